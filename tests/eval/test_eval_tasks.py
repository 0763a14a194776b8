"""The evaluation harness on a tiny workspace (3 simulated nights × 0.5 h, parity-mini weights).

The numbers are meaningless (random weights); these tests specify that every task runs, writes its
JSON with the main score in range, that report.md and its plots are written, that tasks skip with
a reason when the workspace lacks what they need, and how another model's vectors are obtained.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sleeplm.eval import EvalContext, EvalError, get_task, list_tasks, run_eval
from sleeplm.eval.baselines import yasa_available
from testdata import MINI_CHECKPOINT

MINI = MINI_CHECKPOINT
FAST = {"captioning": {"n_per_track": 4, "max_len": 24}, "zero_shot_staging": {"yasa": False}, "retrieval": {"pool_size": 60},
        "few_shot_staging": {"n_seeds": 2}}


@pytest.fixture(scope="module")
def cohort_dir(sim_cohort_dir: Path) -> Path:
    return sim_cohort_dir


@pytest.fixture(scope="module")
def workspace(sim_workspace: Path) -> Path:
    return sim_workspace


@pytest.fixture(scope="module")
def results(workspace: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("evout")
    return run_eval([workspace], [None], [], out, seed=0, task_options=FAST)


def test_registry_lists_every_task() -> None:
    assert list_tasks() == ["zero_shot_staging", "few_shot_staging", "retrieval", "captioning", "localization",
                            "night_retrieval"]
    for name in list_tasks():
        task = get_task(name)
        assert task.name == name and task.main_score and task.description
    with pytest.raises(KeyError, match="unknown task"):
        get_task("nope")


def test_every_task_writes_json_with_main_score_in_range(results) -> None:
    run = results.runs[0]
    assert run.error is None and results.ok
    for name in list_tasks():
        data = json.loads((Path(run.run_dir) / f"{name}.json").read_text())
        assert data["skipped"] is None, (name, data["skipped"])
        v = data["scores"][data["main_score"]]
        assert v is not None and 0.0 <= v <= 1.0, (name, v)
        meta = data["meta"]
        assert meta["model"]["sha256"] == run.model_sha256 and len(meta["model"]["sha256"]) == 64
        assert meta["manifest"]["counts"]["recordings"] == 3 and meta["seed"] == 0 and meta["started"]


def test_report_has_tables_and_plots(results) -> None:
    text = results.report.read_text()
    assert "## Comparison" in text and "zero_shot_staging (macro_f1)" in text
    assert "chance (uniform)" in text and "majority class" in text and "feature rule" in text
    pngs = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    names = {Path(p).name for p in pngs}
    assert {"zero_shot_confusion.png", "retrieval_recall.png", "localization_timeline.png", "few_shot.png"} <= names
    for p in pngs:
        assert (results.out_dir / p).stat().st_size > 1000
    summary = json.loads((results.out_dir / "summary.json").read_text())
    assert set(summary["runs"][0]["main_scores"]) == set(list_tasks())


def test_retrieval_chance_and_table(results) -> None:
    data = json.loads((Path(results.runs[0].run_dir) / "retrieval.json").read_text())
    rows = data["tables"]["cross-modal retrieval"]
    assert {r["track"] for r in rows} == {"stage_event", "brain", "cardiac", "respiratory", "somatic"}
    for r in rows:
        assert 0 <= r["chance R@1"] <= r["chance R@5"] <= r["chance R@10"] <= 1
        assert r["R@1"] <= r["R@5"] <= r["R@10"]


def _strip(workspace: Path, dest: Path) -> Path:
    """A copy with one recording and no events."""
    shutil.copytree(workspace, dest)
    con = duckdb.connect(str(dest / "cohort.duckdb"))
    con.execute("DELETE FROM events")
    con.execute("UPDATE epochs SET event_types = []")
    for t in ("captions", "epoch_vectors", "features"):
        con.execute(f"DELETE FROM {t} WHERE epoch_id IN (SELECT epoch_id FROM epochs WHERE recording_id > 0)")
    for t in ("epochs", "night_vectors", "night_metrics", "recordings"):
        con.execute(f"DELETE FROM {t} WHERE recording_id > 0")
    con.close()
    return dest


def test_tasks_skip_with_a_reason(workspace: Path, tmp_path: Path) -> None:
    ws = _strip(workspace, tmp_path / "one")
    res = run_eval([ws], [None], ["few_shot_staging", "localization", "night_retrieval", "zero_shot_staging"],
                   tmp_path / "out", task_options=FAST)
    by = {t.task: t for t in res.runs[0].results}
    assert "at least 2 recordings" in by["few_shot_staging"].skipped
    assert "no scored events" in by["localization"].skipped
    assert "at least 2 nights" in by["night_retrieval"].skipped
    assert by["zero_shot_staging"].skipped is None
    text = res.report.read_text()
    assert text.count("**Skipped:**") == 3


def _other_model(tmp_path: Path) -> Path:
    """parity-mini with another logit scale: other sha256, same embeddings."""
    import torch

    sd = torch.load(MINI, weights_only=True)
    sd["state_dict"]["logit_scale"] = sd["state_dict"]["logit_scale"] + 1
    other = tmp_path / "other.pt"
    torch.save(sd, other)
    shutil.copy(MINI.with_name("config.json"), tmp_path / "config.json")
    return other


def test_other_model_recomputes_vectors_from_recordings(workspace: Path, tmp_path: Path) -> None:
    other = _other_model(tmp_path)
    ctx = EvalContext.open(workspace, str(other))
    try:
        assert ctx.recompute and "recomputed from the recordings" in ctx.vector_source
        ids = ctx.epochs()["epoch_id"].to_numpy()[:20]
        stored = np.stack([np.asarray(v, np.float32) for (v,) in ctx.con.execute(
            "SELECT vec FROM epoch_vectors WHERE epoch_id IN (SELECT unnest(?)) ORDER BY epoch_id",
            [ids.tolist()]).fetchall()])
        np.testing.assert_allclose(ctx.epoch_vectors(ids), stored, atol=1e-4)
    finally:
        ctx.close()


def test_other_model_with_missing_recording_is_refused(workspace: Path, cohort_dir: Path, tmp_path: Path) -> None:
    other = _other_model(tmp_path)
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    con = duckdb.connect(str(ws / "cohort.duckdb"))
    con.execute("UPDATE recordings SET path = '/nonexistent/sim.edf' WHERE recording_id = 0")
    con.close()
    ctx = EvalContext.open(ws, str(other))
    with pytest.raises(EvalError, match="is missing"):
        ctx.epoch_vectors(ctx.epochs()["epoch_id"].to_numpy()[:3])
    ctx.close()
    res = run_eval([ws], [str(other)], ["few_shot_staging"], tmp_path / "out", task_options=FAST)
    assert not res.ok and "refused" in res.runs[0].results[0].skipped


def test_missing_workspace_is_reported(tmp_path: Path) -> None:
    res = run_eval([tmp_path / "nowhere"], [None], ["retrieval"], tmp_path / "out")
    assert res.runs[0].error and "no workspace here" in res.runs[0].error
    assert "Not run" in res.report.read_text()


@pytest.mark.skipif(not yasa_available(), reason="yasa is not installed (optional)")
def test_yasa_baseline_on_the_same_epochs(workspace: Path, tmp_path: Path) -> None:
    ctx = EvalContext.open(workspace, None, out_dir=tmp_path)
    try:
        res = get_task("zero_shot_staging").run(ctx)
    finally:
        ctx.close()
    yasa = res.scores["baselines"]["YASA"]
    assert 0.0 <= yasa["accuracy"] <= 1.0 and yasa["coverage"] > 0.9
    assert "zero_shot_confusion_yasa.png" in res.plots
    (difference,) = res.scores["intervals"]["differences"]
    assert difference.endswith(" − YASA")


def test_zero_shot_staging_gives_intervals_over_recordings(results) -> None:
    data = json.loads((Path(results.runs[0].run_dir) / "zero_shot_staging.json").read_text())
    iv = data["scores"]["intervals"]
    assert iv["unit"] == "recording" and iv["n_units"] == data["meta"]["manifest"]["counts"]["recordings"]
    (method,) = iv["methods"]  # YASA is off in the fast options: the model alone, no difference
    lo, hi = iv["methods"][method]["kappa"]
    assert -1.0 <= lo <= hi <= 1.0 and iv["differences"] == {}


def test_two_different_models_with_the_same_file_name_get_their_own_results(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _other_model(tmp_path / "a")
    second = _other_model(tmp_path / "b")
    import torch

    sd = torch.load(second, weights_only=True)
    sd["state_dict"]["logit_scale"] = sd["state_dict"]["logit_scale"] + 1  # other weights, same name
    torch.save(sd, second)
    res = run_eval([workspace], [str(first), str(second)], ["zero_shot_staging"], tmp_path / "out",
                   task_options={"zero_shot_staging": {"yasa": False, "ablation": False}}, limit_epochs=20)
    labels = [r.model for r in res.runs]
    assert len(set(labels)) == 2 and labels[0] == "other" and labels[1].startswith("other@")
    assert len({r.run_dir for r in res.runs}) == 2
    assert all((Path(r.run_dir) / "zero_shot_staging.json").is_file() for r in res.runs)


def test_a_model_named_twice_keeps_its_plain_name() -> None:
    from sleeplm.eval.runner import model_label

    taken: dict[str, str] = {}
    assert model_label("w", "aa" * 32, taken) == "w"
    assert model_label("w", "aa" * 32, taken) == "w"
    assert model_label("w", "bb" * 32, taken) == "w@bbbbbbbb"


def test_an_epochs_emg_reference_is_its_whole_nights(workspace: Path, tmp_path: Path) -> None:
    from sleeplm.encoder.pipeline import night_emg_reference

    ctx = EvalContext.open(workspace, None, out_dir=tmp_path)
    night = ctx.epochs()[ctx.epochs()["recording_id"] == ctx.epochs()["recording_id"].iloc[0]]
    ids = night["epoch_id"].to_numpy()
    whole = night_emg_reference(ctx.signals(ids))
    few = EvalContext.open(workspace, None, out_dir=tmp_path).night_emg_rms(ids[[3, 7]])  # two epochs, read alone
    assert np.isfinite(whole) and few == pytest.approx([whole, whole], rel=1e-6)
    assert whole != pytest.approx(night_emg_reference(ctx.signals(ids[[3, 7]])), rel=1e-3)
