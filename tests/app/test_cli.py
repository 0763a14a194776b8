"""The ``sleeplm`` command line: thin, JSON on request, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sleeplm.app.cli import app

runner = CliRunner()


def test_inspect_json_reports_mapping_and_annotations(make_edf) -> None:
    fs = 100.0
    x = np.sin(np.arange(int(90 * fs)) / 3.0)
    path = make_edf("n.edf", {"C3-M2": (x, fs, "uV"), "EKG": (x, fs, "mV")},
                    annotations=[(0, 60, "Sleep stage W"), (60, 30, "Sleep stage N3"), (70, 12, "Hypopnea")])
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sleeplm_channels"]["EEG_C3"]["labels"] == ["C3-M2"]
    assert report["sleeplm_channels"]["ECG"]["labels"] == ["EKG"]
    assert "EEG_C4" in report["missing"]
    assert report["annotations"]["stage_counts"] == {"W": 2, "N3": 1}
    assert report["annotations"]["event_counts"] == {"hypopnea": 1}


def test_inspect_json_of_a_truncated_edf_is_json_alone_on_stdout(make_edf) -> None:
    import subprocess
    import sys

    fs = 100.0
    x = np.sin(np.arange(int(600 * fs)) / 3.0)
    path = make_edf("cut.edf", {"C3-M2": (x, fs, "uV"), "EKG": (x, fs, "mV")})
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size * 2 // 3)
    done = subprocess.run([sys.executable, "-c", "from sleeplm.app.cli import main; main()", "inspect", str(path),
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # pyedflib's own complaint ("filesize ... != ...") went to stderr
    assert report["duration_s"] < 600 and any("truncated" in r for r in report["repairs"])


def test_inspect_bad_file_exits_2_with_message_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.edf"
    bad.write_text("hello")
    result = runner.invoke(app, ["inspect", str(bad)])
    assert result.exit_code == 2
    assert "bad.edf: not an EDF/BDF file" in result.output
    assert "Traceback" not in result.output


def test_simulated_nights_read_back_with_their_stages_and_events(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--nights", "3", "--seed", "3", "--hours", "0.5"])
    assert result.exit_code == 0, result.output
    for edf in sorted(out.glob("*.edf")):
        truth = np.load(edf.with_suffix(".truth.npz"))
        report = json.loads(runner.invoke(app, ["inspect", str(edf), "--json"]).output)
        expected_missing = [str(c) for c in np.atleast_1d(truth["missing_channels"]) if str(c)]
        assert sorted(report["missing"]) == sorted(c for c in expected_missing if c != "SPO2")
        stages, counts = np.unique(truth["stage"], return_counts=True)
        assert report["annotations"]["stage_counts"] == dict(zip(stages.tolist(), counts.tolist()))
        types, n = np.unique(truth["event_type"], return_counts=True) if truth["event_type"].size else ([], [])
        assert report["annotations"]["event_counts"] == dict(zip(list(types), [int(x) for x in n]))


def test_simulate_wake_artifacts_option_changes_the_wake_eeg_alone(tmp_path: Path) -> None:
    """--wake-artifacts reaches the simulator: the same seed's night keeps its hypnogram and events, the EEG band
    powers of its wake epochs change, and those of its sleep epochs away from wake do not (from the truth files)."""
    truth = {}
    for flag in ([], ["--wake-artifacts"]):
        out = tmp_path / ("with" if flag else "without")
        result = runner.invoke(app, ["simulate", "--out", str(out), "--nights", "1", "--seed", "0", "--hours", "0.5",
                                     *flag])
        assert result.exit_code == 0, result.output
        (path,) = out.glob("*.truth.npz")
        truth[bool(flag)] = dict(np.load(path))
    off, on = truth[False], truth[True]
    for key in ("stage", "event_type", "event_onset_s"):
        assert np.array_equal(off[key], on[key]), key
    bands = [k for k in off if k.startswith("eeg_rel_power_")]
    assert bands
    change = np.max([np.abs(on[k] - off[k]) for k in bands], axis=0)
    wake = off["stage"] == "W"
    near_wake = wake | np.r_[False, wake[:-1]] | np.r_[wake[1:], False]  # chunks join with a 0.5-s crossfade
    assert wake.sum() >= 5 and (change[wake] > 1e-3).all()
    # an electrode pop is drawn after the artifacts, so it may land in another sleep epoch of each night
    assert (~near_wake).sum() >= 10 and (change[~near_wake] > 1e-3).sum() <= 2


def test_serve_refuses_a_user_without_a_password_before_opening_anything(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "-w", str(tmp_path / "none"), "--auth-user", "ana"], env={})
    assert result.exit_code == 2 and "SLEEPLM_AUTH_PASSWORD" in result.output
    assert "Traceback" not in result.output


def test_check_of_a_folder_without_workspace_is_one_problem_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "-w", str(tmp_path)])
    assert result.exit_code == 1 and "no workspace here" in result.output and "Traceback" not in result.output


def test_ingest_workers_option_reaches_the_ingest(tmp_path: Path, monkeypatch) -> None:
    import sleeplm.index.ingest as ingest_module

    seen: dict[str, object] = {}

    def fake_ingest(*args, **kwargs):
        seen.update(kwargs)
        raise ValueError("stopped after reading the options")

    monkeypatch.setattr(ingest_module, "ingest", fake_ingest)
    result = runner.invoke(app, ["ingest", str(tmp_path), "-w", str(tmp_path / "ws"), "--workers", "0"])
    assert seen.get("workers") == 0
    assert result.exit_code != 0 and "stopped after reading the options" in result.output


def test_adapt_writes_weights_and_a_card_naming_what_it_was_adapted_on(sim_workspace: Path, tmp_path: Path) -> None:
    recipe = json.loads(Path(__file__).parents[2].joinpath(
        "encoder", "train", "recipes", "tiny-adapt-real.json").read_text())
    recipe["adapt"].update(steps=2, batch_size=4, warmup_steps=1)  # the bundled settings, two steps only
    short = tmp_path / "two-steps.json"
    short.write_text(json.dumps(recipe))
    out = tmp_path / "adapted.safetensors"
    result = runner.invoke(app, ["adapt", "-w", str(sim_workspace), "--out", str(out), "--recipe", str(short)])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "adapted.card.json").read_text())
    assert out.is_file() and card["weights"]["sha256"]
    assert "no reference asset" in card["out_of_distribution"]
    assert "sim-0001" in json.dumps(card["adapted_on"])  # the workspace's nights (sim_cohort_dir's files)


def test_adapt_refuses_an_output_that_is_not_safetensors(sim_workspace: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["adapt", "-w", str(sim_workspace), "--out", str(tmp_path / "x.pt")])
    assert result.exit_code == 2 and "must end in .safetensors" in result.output


def test_localize_reads_apnea_as_every_apnea_type_as_the_chat_does(sim_workspace: Path) -> None:
    result = runner.invoke(app, ["localize", "sim-0002", "apnea", "-w", str(sim_workspace), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out["event_types"]) == {"obstructive_apnea", "central_apnea", "mixed_apnea"}
    assert out["answer"].startswith("In **sim-0002**") and "figures" not in out


def test_localize_says_a_description_naming_no_event_cannot_be_checked(sim_workspace: Path) -> None:
    result = runner.invoke(app, ["localize", "sim-0002", "a lion roaring", "-w", str(sim_workspace), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["event_types"] == [] and "names no scored event type" in out["answer"]


def test_localize_refuses_an_empty_description(sim_workspace: Path) -> None:
    result = runner.invoke(app, ["localize", "sim-0002", " ", "-w", str(sim_workspace)])
    assert result.exit_code != 0 and "describe the event to find" in result.output


def test_similar_nights_gives_the_chat_s_answer_with_who_scored_each_night(sim_workspace: Path) -> None:
    result = runner.invoke(app, ["similar-nights", "sim-0001", "-w", str(sim_workspace), "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert len(out["hits"]) == 2 and all("scoring" in h for h in out["hits"])
    assert out["answer"].startswith("Nights most like **sim-0001**")


def test_an_unknown_recording_is_named_as_unknown_not_as_a_missing_epoch(sim_workspace: Path) -> None:
    result = runner.invoke(app, ["similar-epochs", "sim-9999", "3", "-w", str(sim_workspace)])
    assert result.exit_code == 2 and "no recording 'sim-9999' in this cohort" in result.output


def test_a_negative_epoch_is_refused_naming_the_night_s_epochs_not_read_as_an_option(sim_workspace: Path) -> None:
    import duckdb

    con = duckdb.connect(str(next(sim_workspace.glob("*.duckdb"))), read_only=True)
    n = con.execute("SELECT n_epochs FROM recordings WHERE name = 'sim-0001'").fetchone()[0]
    con.close()
    result = runner.invoke(app, ["similar-epochs", "sim-0001", "-1", "-w", str(sim_workspace)])
    assert result.exit_code == 2 and f"no epoch -1 in recording 'sim-0001' (it has epochs 0–{n - 1})" in result.output


def test_a_search_filter_naming_no_value_of_the_cohort_is_an_error_not_an_empty_table(sim_workspace: Path) -> None:
    result = runner.invoke(app, ["search", "apnea", "-w", str(sim_workspace), "--stage", "N4", "--sex", "f"])
    assert result.exit_code == 2
    assert "no stage 'N4'" in result.output and "no sex 'f'" in result.output
