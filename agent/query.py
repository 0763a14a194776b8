"""The typed query language of cohort questions: what a planner produces and the executor runs.

A question becomes a :class:`Query` (what is asked, of which measures, over which nights, grouped how),
possibly followed by further steps that act on its result ("the night with the highest AHI → its
hypnogram"), or a :class:`Decline` that says what was understood, why the rest cannot be answered and the
nearest question that can. The deterministic router and any LLM back end share these types: an LLM calls
the ``query_cohort`` tool with the same fields (:class:`QueryArgs`, the pydantic mirror).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: What a question asks for.
Ask = Literal["value", "aggregate", "rank", "argmax", "argmin", "count", "list", "compare", "trend"]
#: How a measure is summarised across nights.
Stat = Literal["mean", "median", "min", "max", "sum", "sd", "range"]
#: Comparison operators of a filter.
Op = Literal["==", "in", "not in", ">", ">=", "<", "<="]
#: Measure kinds: a night-metric column, epochs (minutes) of a stage, scored events of a type (optionally
#: within a stage), a subject attribute, or whether a channel is missing.
MeasureKind = Literal["metric", "stage_minutes", "event_count", "mean_event_duration", "longest_event_duration",
                      "stage_index", "attribute", "missing_channels"]
#: Measure kinds computed from the durations of one night's scored events of a type.
DURATION_KINDS: tuple[str, ...] = ("mean_event_duration", "longest_event_duration")
#: Steps a night result can be followed by.
Then = Literal["describe", "hypnogram", "similar_nights"]

#: Body positions an event count can be restricted to, and the stored epoch positions each means.
POSITIONS: dict[str, tuple[str, ...]] = {"supine": ("supine",), "non_supine": ("left", "right", "prone", "upright"),
                                         "lateral": ("left", "right"), "left": ("left",), "right": ("right",),
                                         "prone": ("prone",), "upright": ("upright",)}

#: Subject attributes a question can filter or group on (``age_band`` is derived from ``age``).
ATTRIBUTES: tuple[str, ...] = ("age", "sex", "bmi", "phenotype", "site", "age_band")
GROUPINGS: tuple[str, ...] = ("sex", "phenotype", "site", "age_band")


@dataclass(frozen=True)
class Measure:
    """One quantity per night.

    Attributes
    ----------
    kind : see :data:`MeasureKind`.
    name : the metric column (``ahi_per_h``, ``hr_rem_bpm``), the event type, the stage (for
        ``stage_minutes``), the attribute, or ``""`` / a channel name for ``missing_channels``.
    stage : for ``event_count`` and the event durations: only events that start in an epoch of this stage; for ``stage_index``
        (an events-per-hour index such as ``ahi_per_h`` within one stage): the stage; for the ``metric``s
        :data:`STAGE_METRICS` (SpO2): the value over the epochs of that stage only.
    position : for ``event_count``: only events that start in an epoch of this body position (one of
        :data:`POSITIONS`; ``non_supine`` = any known position but supine, ``lateral`` = left or right).
    duration_op, duration_s : for ``event_count`` and the event durations: only events whose scored duration meets
        ``duration_op duration_s`` ("apneas longer than 30 s" = ``">", 30.0``).
    """

    kind: MeasureKind
    name: str
    stage: str | None = None
    position: str | None = None
    duration_op: Literal[">", ">=", "<", "<="] | None = None
    duration_s: float | None = None


#: Stages pooled under one name ("NREM" = N1, N2 and N3): a measure within one counts the epochs and events of each.
STAGE_GROUPS: dict[str, tuple[str, ...]] = {"NREM": ("N1", "N2", "N3")}


def stages_in(stage: str) -> tuple[str, ...]:
    """The scored stages a measure's ``stage`` covers: itself, or the members of a :data:`STAGE_GROUPS` group."""
    return STAGE_GROUPS.get(stage, (stage,))


#: Night metrics a ``metric`` measure can also take within one stage (from the per-epoch SpO2 values): the lowest
#: SpO2 in REM, the mean SpO2 in N3.
STAGE_METRICS: tuple[str, ...] = ("spo2_min_pct", "spo2_mean_pct")


#: "Oxygenation" has no single measure: these, the SpO2 nadir first (what "the worst oxygenation" ranks).
OXYGENATION: tuple[str, ...] = ("spo2_min_pct", "t90_min", "odi_per_h", "spo2_mean_pct")


#: A filter on a night's count of scored events of a type: ``Filter(EVENT_COUNT_FIELD + "arousal", ">", 20)``;
#: of those that start in one stage: ``Filter(event_count_field("apnea", "REM"), ">=", 1)``.
EVENT_COUNT_FIELD = "event_count:"


def event_count_field(event: str, stage: str | None = None) -> str:
    """The field of a filter on a night's count of scored events of type ``event``, only those that start in an
    epoch of ``stage`` when one is given: ``event_count:arousal``, ``event_count:apnea@REM``."""
    return f"{EVENT_COUNT_FIELD}{event}@{stage}" if stage else EVENT_COUNT_FIELD + event


#: A filter on a night's minutes in a stage: ``Filter(STAGE_MINUTES_FIELD + "N3", ">", 10)``.
STAGE_MINUTES_FIELD = "stage_minutes:"


def event_count_of(field: str) -> tuple[str, str | None] | None:
    """The event type and stage (or None) of an :func:`event_count_field`; None for any other field."""
    if not field.startswith(EVENT_COUNT_FIELD):
        return None
    event, _, stage = field[len(EVENT_COUNT_FIELD):].partition("@")
    return event, stage or None


@dataclass(frozen=True)
class Filter:
    """A condition on nights: a subject attribute, a metric threshold or a measure."""

    field: str  # an attribute, a night-metric column, "missing_channels", or EVENT_COUNT_FIELD + an event type
    op: Op
    value: Any


#: Kinds of time window on a night (see :class:`Window`).
WindowKind = Literal["half", "first_hours", "last_hours", "after_first_hours", "before_last_hours",
                     "after_sleep_onset", "clock"]


@dataclass(frozen=True)
class Window:
    """A part of each night a query is restricted to.

    Attributes
    ----------
    kind : ``half`` (``which`` = first / second half of the recording's epochs), ``first_hours`` /
        ``last_hours`` (the first / last ``hours`` of the recording, from lights-off = its start),
        ``after_first_hours`` / ``before_last_hours`` (the rest of the recording once its first / last ``hours``
        are left out: "excluding the first 30 minutes", "after the first hour"),
        ``after_sleep_onset`` (the ``hours`` from the first sleep epoch on), ``clock`` (wall-clock
        times ``start_clock`` to ``end_clock``, "HH:MM"; either may be None for "after" / "before").
    """

    kind: WindowKind
    which: Literal["first", "second"] | None = None
    hours: float | None = None
    start_clock: str | None = None
    end_clock: str | None = None

    def text(self) -> str:
        """The window as a phrase ("in the first half of the recording", "from 03:00 on")."""
        h = f"{self.hours:g} h" if self.hours is not None else ""
        if self.kind == "half":
            return f"in the {self.which} half of the recording"
        if self.kind == "first_hours":
            return f"in the first {h} of the recording"
        if self.kind == "last_hours":
            return f"in the last {h} of the recording"
        if self.kind == "after_first_hours":
            return f"after the first {h} of the recording (the first {h} left out)"
        if self.kind == "before_last_hours":
            return f"before the last {h} of the recording (the last {h} left out)"
        if self.kind == "after_sleep_onset":
            return f"in the first {h} after sleep onset"
        if self.start_clock and self.end_clock:
            return f"between {self.start_clock} and {self.end_clock}"
        return f"from {self.start_clock} on" if self.start_clock else f"before {self.end_clock}"


@dataclass
class Query:
    """One step of a plan.

    Attributes
    ----------
    ask : what is asked (:data:`Ask`).
    measures : the quantities (one for most asks; ``value`` may take several).
    nights : nights named by the question (recording names); empty means the whole cohort.
    filters : conditions every night must meet.
    group_by : a subject attribute to compare (``compare``) or break a count down by.
    stat : how ``aggregate`` summarises the nights.
    k : how many nights ``rank`` shows (None: all).
    descending : ``rank`` order.
    then : what to do next with the single night this step names (``argmax`` / ``argmin``).
    window : restrict every measure to this part of each night (None: the whole night).
    versus_cohort : ``value``: also place the named nights among every night of the cohort (median, range, rank).
    pooled : ``compare``: groups made of several values of ``group_by`` (label -> those values: "the OSA patients"
        = ``{"osa_*": ["osa_moderate", "osa_severe"]}``); a value in no pooled group is left out.
    cut : ``compare`` with ``group_by`` age or bmi: two groups, below this value and at or above it ("over 60 vs
        under 60" = ``cut=60``, "obese vs non-obese" = BMI ``cut=30``); a night without the attribute is left out.
    """

    ask: Ask
    measures: list[Measure] = field(default_factory=list)
    nights: list[str] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    group_by: str | None = None
    stat: Stat = "mean"
    k: int | None = None
    descending: bool = True
    then: Then | None = None
    window: Window | None = None
    versus_cohort: bool = False
    pooled: dict[str, list[str]] | None = None
    cut: float | None = None

    def to_args(self) -> dict[str, Any]:
        """The ``query_cohort`` tool arguments for this query (JSON-ready)."""
        d = asdict(self)
        for m in d["measures"]:  # a measure without a position or a duration condition is written as before
            for k in ("position", "duration_op", "duration_s"):
                if m.get(k) is None:
                    m.pop(k, None)
        return {k: v for k, v in d.items() if (v not in (None, [], "mean") or k == "ask")
                and not (k == "versus_cohort" and not v)}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Query:
        """The query a ``query_cohort`` call describes (dicts or :class:`QueryArgs` fields)."""
        d = dict(args)
        d["measures"] = [m if isinstance(m, Measure) else Measure(**_plain(m)) for m in d.get("measures") or []]
        d["filters"] = [f if isinstance(f, Filter) else Filter(**_plain(f)) for f in d.get("filters") or []]
        d["nights"] = list(d.get("nights") or [])
        w = d.get("window")
        d["window"] = None if w is None else w if isinstance(w, Window) else Window(**_plain(w))
        return cls(**{k: v for k, v in d.items() if v is not None})


def _plain(x: Any) -> dict[str, Any]:
    return x.model_dump() if isinstance(x, BaseModel) else dict(x)


@dataclass
class Decline:
    """An honest non-answer: what was understood, why the question cannot be answered, what can be asked."""

    reason: str
    understood: str = ""
    suggestion: str = ""

    def text(self) -> str:
        parts = [f"**I can't answer that from this cohort:** {self.reason}"]
        if self.understood:
            parts.append(f"What I understood: {self.understood}.")
        if self.suggestion:
            parts.append(f"Nearest question I can answer: *{self.suggestion}*")
        return "\n\n".join(parts)


# ------------------------------------------------------------------ the LLM-facing schema (same fields)
class ToolArgs(BaseModel):
    """Arguments of a tool: a field the tool does not take is an error, never silently dropped (a condition
    dropped from a question answers another question: "epochs with a heart rate above 100" counted every epoch)."""

    model_config = ConfigDict(extra="forbid")


class MeasureArgs(ToolArgs):
    kind: MeasureKind = Field(description="metric: a night-metric column (e.g. ahi_per_h, sleep_efficiency_pct, "
                                          "tst_min, rem_pct, hr_rem_bpm = heart rate in REM; spo2_min_pct and "
                                          "spo2_mean_pct also within a stage); stage_minutes: "
                                          "minutes of a stage (name = W/N1/N2/N3/REM); event_count: scored events "
                                          "of a type (name = e.g. obstructive_apnea), optionally in a stage; "
                                          "mean_event_duration / longest_event_duration: the mean / longest "
                                          "duration (s) of a night's scored events of a type, optionally in a "
                                          "stage; "
                                          "stage_index: an events-per-hour index within a stage (name = e.g. "
                                          "ahi_per_h, stage = REM); "
                                          "attribute: a subject attribute (age, bmi...); missing_channels: "
                                          "channels absent from the recording (name = '' or a channel).")
    name: str
    stage: Literal["W", "N1", "N2", "N3", "REM", "NREM"] | None = None
    position: Literal["supine", "non_supine", "lateral", "left", "right", "prone", "upright"] | None = Field(
        None, description="event_count: only events starting in an epoch of this body position; stage_index: the "
                          "index within the stage and this position (events and sleep time both).")
    duration_op: Literal[">", ">=", "<", "<="] | None = Field(
        None, description="event_count and event durations: only events whose duration meets duration_op duration_s.")
    duration_s: float | None = Field(None, ge=0, description="the duration threshold (s) of duration_op.")


class FilterArgs(ToolArgs):
    field: str = Field(description="age, sex (M/F), bmi, phenotype, site, age_band, a night-metric column, "
                                   "missing_channels, or event_count:<event type> (a night's count of scored "
                                   "events, e.g. event_count:arousal)")
    op: Op
    value: Any


class WindowArgs(ToolArgs):
    kind: WindowKind = Field(description="half (which = first/second half of the recording); first_hours / "
                                         "last_hours (hours of the recording from lights-off / before its end); after_first_hours / "
                                         "before_last_hours (the recording without its first / last hours); "
                                         "after_sleep_onset (hours from the first sleep epoch); clock "
                                         "(start_clock / end_clock as HH:MM, either may be omitted).")
    which: Literal["first", "second"] | None = None
    hours: float | None = Field(None, gt=0)
    start_clock: str | None = Field(None, pattern=r"^\d{2}:\d{2}$")
    end_clock: str | None = Field(None, pattern=r"^\d{2}:\d{2}$")


class QueryArgs(ToolArgs):
    ask: Ask = Field(description="value: per named night; aggregate: one statistic over nights; rank / argmax / "
                                 "argmin: nights ordered by the first measure; count / list: nights meeting the "
                                 "filters; compare: the first measure between groups (group_by) with a rank test; "
                                 "trend: the first measure against age (Spearman).")
    measures: list[MeasureArgs] = Field(default_factory=list)
    nights: list[str] = Field(default_factory=list, description="Recording names or subject ids; empty = cohort.")
    filters: list[FilterArgs] = Field(default_factory=list)
    group_by: str | None = Field(
        None, description="compare: the grouping, one of sex, phenotype, site, age_band (age or bmi only with cut); "
                          "trend: what the measure is set against: age (the default), bmi or another night-metric "
                          "column (a correlation between two night measures).")
    stat: Stat = "mean"
    k: int | None = Field(None, ge=1, le=100)
    descending: bool = True
    then: Then | None = Field(None, description="After argmax/argmin: describe the night, draw its hypnogram, or "
                                                "find nights like it.")
    window: WindowArgs | None = Field(None, description="Restrict every measure to a part of each night (time "
                                                        "of night); omit for the whole night.")
    versus_cohort: bool = Field(False, description="value: also place the named nights among the whole cohort "
                                                   "(its median, range and the nights' rank).")
    pooled: dict[str, list[str]] | None = Field(
        None, description="compare: groups pooled from several values of group_by, label -> values (e.g. "
                          "{'osa_*': ['osa_moderate', 'osa_severe'], 'healthy_*': ['healthy_young', 'healthy_older']}).")
    cut: float | None = Field(None, description="compare with group_by age or bmi: two groups, below this value and "
                                                "at or above it (e.g. age 60; BMI 30 for obese vs non-obese).")
