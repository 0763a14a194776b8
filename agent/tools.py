"""The agent's tools: langchain-core tools with typed (pydantic) arguments over one :class:`Cohort`.

:func:`make_tools` closes the tools over a cohort and a session (its state supplies "this
night" / "that epoch" when a recording or an epoch is left out). Every tool returns its result
twice, as ``content_and_artifact``: the JSON text a language model reads (long lists cut) and
the full dict as the ToolMessage's ``artifact`` (with ``figures``: PNG paths, ``focus``: the
night/epoch it is about, ``summary``: one line).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from langchain_core.tools import BaseTool, tool
from pydantic import BaseModel, Field
from sleeplm.encoder.vocab import SCORED_STAGES
from sleeplm.index.ood import THRESHOLD as OOD_THRESHOLD
from sleeplm.index.queries import Cohort

from . import cohort_tools, executor, night_tools, recording_info, rem_related
from .context import ToolContext, to_content
from .query import FilterArgs, Query, QueryArgs, ToolArgs
from .state import SessionState, ToolConfig

Stage = Literal[SCORED_STAGES]
EventType = Literal["obstructive_apnea", "central_apnea", "mixed_apnea", "hypopnea", "oxygen_desaturation",
                    "arousal", "limb_movement"]
Group = Literal["phenotype", "sex", "site", "age_band", "stage", "recording"]

_RECORDING = "Recording name (e.g. 'sim-0003') or subject id (e.g. 'S0003'); omit for the current night."
_EPOCH = ("0-based 30-s epoch index within the night (-1: its last epoch); omit to use clock_time or the current "
          "epoch.")
_CLOCK = "Wall-clock time inside the night, 'HH:MM' or 'HH:MM:SS' (e.g. '02:30'); used when epoch is omitted."


class DescribeNightArgs(ToolArgs):
    recording: str | None = Field(None, description=_RECORDING)
    metrics: list[str] | None = Field(
        None, description="Night metrics to report first, by column or common name "
                          "(e.g. 'ahi_per_h' or 'AHI', 'sleep efficiency', 'tst_min', 'n3_pct').")
    plot: bool = Field(True, description="Draw the hypnogram with scored events.")
    reference: bool = Field(False, description="Judge each requested metric against the adult reference range where "
                                               "an accepted one exists, or say why none applies ('is that normal?').")


class NightArgs(ToolArgs):
    recording: str | None = Field(None, description=_RECORDING)


class RecordingInfoArgs(ToolArgs):
    recording: str | None = Field(None, description=_RECORDING)
    channel: str | None = Field(None, description="A model channel (ECG, ABD, THX, AF, EOG_L, EOG_R, EEG_C3, EEG_C4, "
                                                  "EMG_CHIN, POS) or another electrode (e.g. 'o1') asked about.")


class NightsArgs(ToolArgs):
    recordings: list[str] | None = Field(None, description="Recording names or subject IDs; omit for every night.")


class CaptionArgs(ToolArgs):
    recording: str | None = Field(None, description=_RECORDING)
    epoch: int | None = Field(None, ge=-1, description=_EPOCH)
    clock_time: str | None = Field(None, description=_CLOCK)
    end_epoch: int | None = Field(None, ge=0, description="Last epoch of a range (inclusive); at most 10 epochs.")
    end_clock_time: str | None = Field(None, description="End of a clock-time range ('HH:MM').")
    tracks: list[Literal["stage_event", "brain", "cardiac", "respiratory", "somatic"]] | None = Field(
        None, description="Caption tracks; default all five for one epoch, stage_event for a range.")


class EpochArgs(ToolArgs):
    recording: str | None = Field(None, description=_RECORDING)
    epoch: int | None = Field(None, ge=-1, description=_EPOCH)
    clock_time: str | None = Field(None, description=_CLOCK)


class LocalizeArgs(ToolArgs):
    description: str = Field(description="What to find, in words (e.g. 'hypopnea', 'obstructive apnea in REM').")
    recording: str | None = Field(None, description=_RECORDING)
    z_threshold: float = Field(2.0, gt=0, description="Robust z above which epochs form an interval.")


class SearchArgs(ToolArgs):
    description: str = Field(description="What the epochs should look like, in words "
                                          "(e.g. 'obstructive apnea in REM with desaturation').")
    k: int = Field(5, ge=1, le=50, description="Number of epochs to return.")
    recordings: list[str] | None = Field(None, description="Only these recordings (names or subject ids).")
    stages: list[Stage] | None = Field(None, description="Only epochs annotated with these stages.")
    event_types: list[EventType] | None = Field(None, description="Only epochs overlapping these scored events.")
    phenotype: list[str] | None = Field(None, description="Only subjects with these phenotypes.")
    sex: list[Literal["M", "F"]] | None = Field(None, description="Only subjects of this sex.")
    site: list[str] | None = Field(None, description="Only these sites.")
    age_min: float | None = Field(None, description="Youngest subject age (years).")
    age_max: float | None = Field(None, description="Oldest subject age (years).")
    hr_min_bpm: float | None = Field(None, description="Only epochs whose mean heart rate is above this (bpm).")
    hr_max_bpm: float | None = Field(None, description="Only epochs whose mean heart rate is below this (bpm).")
    spo2_max_pct: float | None = Field(None, description="Only epochs whose lowest SpO2 is at or below this (%).")
    in_time_order: bool = Field(False, description="List the epochs in time order (night, epoch) instead of by "
                                                   "similarity: for 'where / when' questions whose filters select them.")


class SimilarEpochsArgs(EpochArgs):
    k: int = Field(5, ge=1, le=50, description="Number of epochs to return.")
    other_nights_only: bool = Field(False, description="Exclude epochs of the same night.")


class SimilarNightsArgs(ToolArgs):
    recording: str | None = Field(None, description=_RECORDING)
    k: int = Field(3, ge=1, le=20, description="Number of nights to return.")


class StatsArgs(ToolArgs):
    question: cohort_tools.StatsQuestion = Field(
        description="count_nights: how many nights (optionally per group); count_epochs: epochs matching "
                    "filters; stage_distribution: % of epochs per stage per group; event_counts: scored events "
                    "per type per group; compare_metric: a night metric per group (mean, sd, min, max); "
                    "list_nights: one row per night with key metrics; scoring: who scored each night's stages "
                    "and events (a person, a program, or nobody).")
    by: Group | None = Field(None, description="Group by this subject attribute (or stage / recording).")
    metric: str | None = Field(None, description="Night metric for compare_metric (e.g. 'ahi_per_h' or 'AHI').")
    recordings: list[str] | None = Field(None, description="Only these recordings.")
    stages: list[Stage] | None = Field(None, description="count_epochs / stage_distribution: only epochs of these stages.")
    event_types: list[EventType] | None = Field(None, description="count_epochs / stage_distribution: only epochs overlapping these events.")
    phenotype: list[str] | None = Field(None, description="Only subjects with these phenotypes.")
    sex: list[Literal["M", "F"]] | None = Field(None, description="Only subjects of this sex.")
    site: list[str] | None = Field(None, description="Only these sites.")
    age_min: float | None = Field(None, description="Only subjects at least this old (years).")
    age_max: float | None = Field(None, description="Only subjects at most this old (years).")
    hr_min_bpm: float | None = Field(None, description="count_epochs / stage_distribution: only epochs whose mean "
                                                       "heart rate is above this (bpm).")
    hr_max_bpm: float | None = Field(None, description="count_epochs / stage_distribution: only epochs whose mean "
                                                       "heart rate is below this (bpm).")
    spo2_max_pct: float | None = Field(None, description="count_epochs / stage_distribution: only epochs whose "
                                                         "lowest SpO2 is at or below this (%).")
    nights_where: list[FilterArgs] | None = Field(
        None, description="Only nights meeting these conditions, as query_cohort's filters: subject attributes "
                          "(incl. bmi), night-metric thresholds (e.g. ahi_per_h > 15), missing_channels.")


def query_cohort(ctx: ToolContext, **args: Any) -> dict[str, Any]:
    """Run one typed cohort query (:mod:`sleeplm.agent.query`) with the shared executor."""
    return executor.run_query(ctx, Query.from_args(args))


#: Tools whose answers come from the model (embeddings, captions): they carry its out-of-distribution score.
MODEL_DERIVED = ("caption_epochs", "localize_events", "search_epochs", "similar_epochs", "similar_nights")


def _recordings_in(result: Any, depth: int = 0) -> list[str]:
    if isinstance(result, dict):
        own = [result["recording"]] if isinstance(result.get("recording"), str) else []
        return own + [r for v in result.values() for r in _recordings_in(v, depth + 1)] if depth < 3 else own
    if isinstance(result, list) and depth < 3:
        return [r for v in result for r in _recordings_in(v, depth + 1)]
    return []


def _with_ood(ctx: ToolContext, result: dict[str, Any]) -> dict[str, Any]:
    """Add ``ood`` (recording -> stored out-of-distribution score, ``index/ood.py``) to a model-derived result."""
    names = sorted(set(_recordings_in(result)))
    scores = {k: v for k, v in ctx.cohort.stored_night_scores(names).items() if v is not None}
    if scores:
        result["ood"] = {"scores": scores, "threshold": OOD_THRESHOLD,
                         "meaning": "median epoch distance to the model's simulated training data, in units of "
                                    "the 99th percentile of held-out training-distribution epochs"}
    return result


def _wrap(ctx: ToolContext, fn: Callable[..., dict[str, Any]]) -> Callable[..., tuple[str, dict[str, Any]]]:
    def run(**kwargs: Any) -> tuple[str, dict[str, Any]]:
        result = fn(ctx, **kwargs)
        if fn.__name__ in MODEL_DERIVED and isinstance(result, dict) and "scored_periods" not in result:
            result = _with_ood(ctx, result)
        return to_content(result), result

    return run


#: name -> (implementation, argument schema, description an LLM reads).
TOOL_SPECS: dict[str, tuple[Callable[..., dict[str, Any]], type[BaseModel], str]] = {
    "describe_night": (night_tools.describe_night, DescribeNightArgs, (
                       "Describe one night: subject (age, sex, phenotype, site), AASM night metrics (AHI, TST, "
                       "sleep efficiency, stage percentages, ODI, SpO2...), the written night summary, stage and "
                       "event counts, the first scored events (epoch index and clock time), and a hypnogram plot. "
                       "Use it for 'describe X', 'what is the AHI of X', 'how did X sleep'.")),
    "model_fit": (night_tools.model_fit, NightArgs, (
                  "How far one night lies from the model's training data: its stored out-of-distribution score, "
                  "the share of its epochs beyond the training data's 99th percentile, and what that means for "
                  "the model's captions and similarities. Use it for 'can I trust the model on X', 'is X in the "
                  "training distribution'.")),
    "recording_info": (recording_info.recording_info, RecordingInfoArgs, (
                       "How one night was recorded: start and end clock time, length, subject and site, the file's "
                       "signals, how each model channel was read (labels, derivation, lead) or that it is missing, "
                       "the body-position coding, the annotation file and who scored each kind. Use it for 'which "
                       "channels does X have', 'does X have C4', 'when did the recording start', 'which site'.")),
    "caption_epochs": (night_tools.caption_epochs, CaptionArgs, (
                       "Caption one epoch or a short range of epochs (by index or clock time): the reference "
                       "caption of each track beside the SleepLM model's own caption, with stage and events.")),
    "show_epoch": (night_tools.show_epoch, EpochArgs, (
                   "Show one epoch's signals: a plot of the 10 model channels (ECG, ABD, THX, airflow, EOGs, "
                   "EEGs, chin EMG, position) with scored events shaded, plus stage, events and reference caption.")),
    "localize_events": (night_tools.localize_events, LocalizeArgs, (
                        "Find where in one night a described event happens: the similarity of every epoch to the "
                        "description, intervals above a z threshold (epochs and clock times), the annotated events "
                        "of the named types for comparison, and a similarity-timeline plot.")),
    "search_epochs": (cohort_tools.search_epochs, SearchArgs, (
                      "Search the whole cohort for epochs matching a description (text-to-signal retrieval), "
                      "optionally filtered by recording, annotated stage or event, phenotype, sex, site, age. "
                      "Returns ranked epochs with recording, epoch index, clock time, stage and events.")),
    "similar_epochs": (cohort_tools.similar_epochs, SimilarEpochsArgs, (
                       "Find epochs whose signals are most like a given epoch (by recording and epoch index or "
                       "clock time; default the current epoch).")),
    "similar_nights": (cohort_tools.similar_nights, SimilarNightsArgs, (
                       "Find the nights most like a given night, with both nights' metrics side by side and the "
                       "metrics on which they agree best.")),
    "query_cohort": (query_cohort, QueryArgs, (
                     "Answer a cohort-data question as a typed query: a value per named night, an aggregate "
                     "(mean/median/min/max/sum), a ranking, the night with the highest/lowest value (optionally "
                     "followed by its description/hypnogram), counts and lists of nights meeting filters (subject "
                     "attributes, metric thresholds, missing channels), group comparisons with a rank test, and "
                     "trends with age. Measures: every night metric (incl. heart rate per stage hr_w_bpm.."
                     "hr_rem_bpm), minutes per stage, scored event counts by type and stage. When the data cannot "
                     "answer it returns a decline with the reason: report that, do not substitute another result.")),
    "rem_related_nights": (rem_related.rem_related_nights, NightsArgs, (
                           "Whether nights fit REM-related obstructive sleep apnea: each night's AHI, REM AHI, NREM "
                           "AHI and REM minutes, the usual rule (AHI >= 5, REM AHI >= 2 x NREM AHI) and the stricter "
                           "one (also NREM AHI < 15, >= 30 min REM), and why a night cannot be judged. Use it for "
                           "'which nights have REM-related OSA', 'REM vs NREM AHI of every night'.")),
    "cohort_stats": (cohort_tools.cohort_stats, StatsArgs, (
                     "Answer cohort questions from the database: number of nights, epoch counts, stage "
                     "distributions, event counts, and night metrics compared by phenotype, sex, site or age band.")),
}


def make_tools(cohort: Cohort, state: SessionState | None = None, config: ToolConfig | None = None,
               figure_dir: Path | None = None) -> list[BaseTool]:
    """The agent's tools over ``cohort``.

    Parameters
    ----------
    cohort : the opened workspace.
    state : the session's state ("this night"); a fresh one when omitted.
    config : figure folder, caption length, range and search sizes.
    figure_dir : where PNGs go (overrides ``config.figure_dir``; default a new temporary folder).

    Returns
    -------
    list of BaseTool
        ``describe_night``, ``model_fit``, ``caption_epochs``, ``show_epoch``, ``localize_events``, ``search_epochs``,
        ``similar_epochs``, ``similar_nights``, ``query_cohort``, ``rem_related_nights``, ``cohort_stats``.
    """
    config = config or ToolConfig()
    ctx = ToolContext(cohort, state if state is not None else SessionState(), config,
                      Path(figure_dir) if figure_dir else None)
    tools = []
    for name, (fn, schema, description) in TOOL_SPECS.items():
        make = tool(name, description=description, args_schema=schema, response_format="content_and_artifact")
        tools.append(make(_wrap(ctx, fn)))
    return tools


def run_tool(cohort: Cohort, name: str, figure_dir: Path | None = None, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """Run one tool outside a chat (the command line): (the answer the chat would give, the tool's result).

    The arguments go straight to the tool's implementation, so a caller may pass settings the chat's schema does
    not offer (e.g. ``calibrated=False`` to ``localize_events``). Errors propagate (ValueError, KeyError).
    """
    from .answers import compose

    fn = TOOL_SPECS[name][0]
    ctx = ToolContext(cohort, SessionState(), ToolConfig(), Path(figure_dir) if figure_dir else None)
    _, result = _wrap(ctx, fn)(**kwargs)
    return compose(name, result), result
