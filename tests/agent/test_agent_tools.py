"""The agent's tools on a simulated workspace: results match DuckDB, figures are written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sleeplm.agent import plots
from sleeplm.agent.state import SessionState, ToolConfig
from sleeplm.agent.tools import make_tools
from sleeplm.index import stats
from sleeplm.index.queries import Cohort
from testdata import MINI_CHECKPOINT

MINI = MINI_CHECKPOINT
PNG = b"\x89PNG"


@pytest.fixture
def tools(cohort: Cohort, tmp_path: Path) -> dict[str, Any]:
    state = SessionState()
    ts = make_tools(cohort, state, ToolConfig(caption_max_len=4), figure_dir=tmp_path)
    return {t.name: t for t in ts} | {"_state": state}


def run(tools: dict[str, Any], name: str, **args: Any) -> dict[str, Any]:
    msg = tools[name].invoke({"name": name, "args": args, "id": "t", "type": "tool_call"})
    json.loads(msg.content)  # what an LLM reads is JSON
    json.dumps(msg.artifact)  # and so is the full result
    return msg.artifact


def test_describe_night_reports_the_stored_metrics_and_draws_a_hypnogram(tools, cohort) -> None:
    r = run(tools, "describe_night", recording="sim-0002", metrics=["AHI"])
    ahi, summary = cohort.con.execute(
        "SELECT ahi_per_h, summary FROM night_metrics JOIN recordings USING (recording_id) WHERE name = 'sim-0002'"
    ).fetchone()
    assert r["requested_metrics"] == {"ahi_per_h": pytest.approx(ahi)} and r["night_summary"] == summary
    n_events = cohort.con.execute("SELECT count(*) FROM events JOIN recordings USING (recording_id) "
                                  "WHERE name = 'sim-0002'").fetchone()[0]
    assert sum(r["event_counts"].values()) == n_events == r["n_events"]
    assert Path(r["figures"][0]).read_bytes()[:4] == PNG


def test_a_subject_id_names_its_night(tools) -> None:
    assert run(tools, "describe_night", recording="S0003", plot=False)["recording"] == "sim-0003"


def test_show_epoch_gives_clock_time_stage_and_a_signal_plot(tools, cohort) -> None:
    r = run(tools, "show_epoch", recording="sim-0002", epoch=30)
    clock, stage = cohort.con.execute(
        "SELECT CAST(clock_time AS VARCHAR), stage FROM epochs JOIN recordings USING (recording_id) "
        "WHERE name = 'sim-0002' AND epoch_index = 30").fetchone()
    assert (r["clock_time"], r["stage"]) == (clock[11:19], stage)
    assert len(r["channels"]) == 10 and Path(r["figures"][0]).read_bytes()[:4] == PNG


def test_epoch_defaults_to_the_session_epoch(tools) -> None:
    tools["_state"].recording, tools["_state"].epoch = "sim-0001", 7
    assert run(tools, "show_epoch")["epoch_index"] == 7


def test_caption_gives_reference_and_model_captions_per_track(tools, cohort) -> None:
    r = run(tools, "caption_epochs", recording="sim-0001", epoch=5, tracks=["stage_event", "cardiac"])
    ref = dict(cohort.con.execute(
        "SELECT track, text FROM captions WHERE epoch_id = ?", [cohort.epoch_id("sim-0001", 5)]).fetchall())
    (e,) = r["epochs"]
    assert e["reference"] == {"stage_event": ref["stage_event"], "cardiac": ref["cardiac"]}
    assert set(e["model"]) == {"stage_event", "cardiac"} and all(isinstance(v, str) for v in e["model"].values())


def test_a_clock_time_range_maps_to_epochs(tools) -> None:
    r = run(tools, "caption_epochs", recording="sim-0001", clock_time="23:20", end_clock_time="23:21")
    assert [e["epoch_index"] for e in r["epochs"]] == [18, 19, 20]  # night starts 23:11:00
    assert r["epochs"][0]["clock_time"] == "23:20:00"


def test_clock_time_outside_the_night_is_a_clear_error(tools) -> None:
    with pytest.raises(ValueError, match="outside sim-0001, which runs from 23:11:00"):
        run(tools, "show_epoch", recording="sim-0001", clock_time="02:30")


def test_localize_lists_the_annotated_events_and_draws_a_timeline(tools, cohort) -> None:
    r = run(tools, "localize_events", recording="sim-0002", description="hypopnea")
    onsets = [row[0] for row in cohort.con.execute(
        "SELECT onset_s FROM events JOIN recordings USING (recording_id) WHERE name = 'sim-0002' "
        "AND type = 'hypopnea' ORDER BY onset_s").fetchall()]
    assert [a["onset_s"] for a in r["annotated"]] == [round(o, 1) for o in onsets]
    assert all(a["epoch_index"] == int(a["onset_s"] // 30) for a in r["annotated"])
    assert Path(r["figures"][0]).read_bytes()[:4] == PNG


def test_search_applies_filters(tools) -> None:
    r = run(tools, "search_epochs", description="obstructive apnea", k=4, phenotype=["osa_moderate"])
    assert len(r["hits"]) == 4 and {h["recording"] for h in r["hits"]} == {"sim-0002"}
    assert r["focus"] is None  # a search never moves "this night"


def test_similar_nights_puts_both_nights_metrics_side_by_side(tools, cohort) -> None:
    r = run(tools, "similar_nights", recording="sim-0002", k=2)
    assert {h["recording"] for h in r["hits"]} == {"sim-0001", "sim-0003"}
    tst = dict(cohort.con.execute("SELECT name, tst_min FROM night_metrics JOIN recordings USING (recording_id)")
               .fetchall())
    for h in r["hits"]:
        assert h["side_by_side"]["tst_min"] == {"this": tst["sim-0002"], "other": tst[h["recording"]]}


def test_cohort_stats_come_from_index_stats(tools, cohort) -> None:
    r = run(tools, "cohort_stats", question="compare_metric", metric="sleep efficiency", by="sex")
    assert r["rows"] == stats.compare_metric(cohort.con, "sleep_efficiency_pct", "sex").to_records()
    assert r["nights_per_group"] == {"F": ["sim-0003"], "M": ["sim-0001", "sim-0002"]}
    with pytest.raises(ValueError, match="unknown night metric 'bogus'"):
        run(tools, "cohort_stats", question="compare_metric", metric="bogus")


def test_unknown_recording_is_a_clear_error(tools) -> None:
    with pytest.raises(ValueError, match="no recording or subject named 'sim-0099'.*sim-0001"):
        run(tools, "describe_night", recording="sim-0099")


def test_plots_write_pngs(tmp_path: Path) -> None:
    onset = np.arange(6) * 30.0
    p1 = plots.hypnogram(tmp_path / "h.png", onset, ["W", "N1", "N2", "N3", "REM", "N2"],
                         [("hypopnea", 40.0, 20.0)], title="t")
    p2 = plots.epoch_signals(tmp_path / "e.png", np.random.default_rng(0).normal(size=(10, 1920)),
                             [f"c{i}" for i in range(10)], [True] * 9 + [False], [("arousal", 3.0, 9.0)])
    p3 = plots.similarity_timeline(tmp_path / "s.png", onset, np.linspace(0, 1, 6), np.linspace(-1, 3, 6),
                                   [(120.0, 180.0)], [(130.0, 150.0, "hypopnea")])
    assert all(p.read_bytes()[:4] == PNG for p in (p1, p2, p3))


def _random_fact_model(cohort: Cohort):
    """A fact reader (random weights) for the cohort's model, spanning every value the numeric captions state."""
    import torch
    from sleeplm.encoder.captions.facts import TRACK_SECTIONS
    from sleeplm.encoder.model.facts import (
        FACT_TRACKS,
        QUANTILE_LEVELS,
        FactModel,
        FactReader,
        FactSpace,
    )

    names = [f"{t}:{s.key}.{f.key}" for t in FACT_TRACKS for s in TRACK_SECTIONS[t] for f in s.fields]
    torch.manual_seed(0)
    cfg = cohort.model.config
    reader = FactReader(cfg.biosignals_cfg, cfg.embed_dim, len(names), hidden=16).eval()
    quantiles = np.repeat(np.linspace(10.0, 90.0, len(QUANTILE_LEVELS))[:, None], len(names), 1)
    return FactModel(reader, FactSpace(names, quantiles, np.ones(len(names))), {})


def test_where_the_weights_have_a_fact_reader_a_numeric_caption_states_the_readers_numbers(
        tools, cohort, monkeypatch) -> None:
    from sleeplm.encoder.captions.parse import parse_caption
    from sleeplm.encoder.io.psg import load_psg
    from sleeplm.encoder.signals.preprocess import make_epochs

    fm = _random_fact_model(cohort)
    monkeypatch.setattr(cohort, "fact_model", fm, raising=False)
    r = run(tools, "caption_epochs", recording="sim-0002", epoch=5, tracks=["stage_event", "cardiac"])
    assert r["grounded"] == ["cardiac"]
    psg = load_psg(cohort.night_record("sim-0002").path)
    x = make_epochs(psg.mapped, psg.annotations, brain_scale=cohort.brain_scale).x[5:6]
    read = fm.values(fm.read(x)[0], "cardiac")
    stated = parse_caption(r["epochs"][0]["model"]["cardiac"], "cardiac").sections
    for sec, s in stated.items():
        for key, v in s.values.items():
            want = read[f"{sec}.{key}"][0]
            assert v == pytest.approx(want, abs=0.051) or key.startswith(("min_", "max_"))
    assert stated, "the grounded caption states values"
