"""caption_epoch: one epoch of a file on disk -> stage, events, features, reference (and model) captions."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from sleeplm.encoder.captions import TRACKS, events_in_epochs, render_night
from sleeplm.encoder.pipeline import caption_epoch, epoch_caption_to_dict
from sleeplm.encoder.signals.features import FEATURE_COLUMNS, compute_epoch_features
from sleeplm.encoder.signals.preprocess import epoch_onsets
from sleeplm.encoder.io.psg import load_psg
from sleeplm.encoder.io.records import PSGError
from testdata import PARITY_MINI

simulate = pytest.importorskip("sleeplm.encoder.sim")


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory) -> Path:
    """A 20-min simulated night (osa_severe, aasm site, airflow lead missing) as EDF+ + NSRR XML."""
    out = tmp_path_factory.mktemp("sim")
    rng = np.random.default_rng(19)
    night = simulate.simulate_night(simulate.draw_subject(1, rng, phenotype="osa_severe"), rng, duration_h=1 / 3)
    # The airflow lead is left out explicitly (not by the simulator's own 20 % draw, which moves with its RNG use).
    from dataclasses import replace

    from sleeplm.encoder.sim.sites import site_signals
    night = replace(night, missing_channels=("AF",),
                    signals=site_signals(rng, night.canonical, night.site, night.duration_s, ("AF",)))
    return simulate.write_night(night, out)


@pytest.fixture(scope="module")
def night_table(sim_file):
    psg = load_psg(sim_file)
    on = epoch_onsets(psg.mapped.recording.duration_s, psg.annotations.stage_onset_s)
    return psg, compute_epoch_features(psg.mapped, psg.annotations, on)


def test_matches_the_whole_night_rendering(sim_file, night_table) -> None:
    psg, df = night_table
    truth = np.load(sim_file.with_name(sim_file.stem + ".truth.npz"))
    evs = events_in_epochs(psg.annotations.events, df.onset_s.to_numpy())
    caps = {t: render_night(df, evs, t) for t in TRACKS}
    with_events = [k for k, e in enumerate(evs) if e]
    assert with_events, "the fixture night should have scored events"
    for k in (0, with_events[0], len(df) - 1):
        ec = caption_epoch(sim_file, k)
        assert ec.epoch == k and ec.n_epochs == len(df) == 40
        assert ec.onset_s == 30.0 * k
        assert ec.clock_time == psg.mapped.recording.start_time + timedelta(seconds=30.0 * k)
        assert ec.stage == str(truth["stage"][k])
        assert ec.events == evs[k]
        assert ec.captions == {t: caps[t][k] for t in TRACKS}
        assert list(ec.features) == list(FEATURE_COLUMNS)
        assert ec.features["hr_mean_bpm"] == pytest.approx(df.hr_mean_bpm.iloc[k])
        assert ec.generated is None
    ec = caption_epoch(sim_file, with_events[0], tracks=["stage_event", "respiratory"])
    assert "event" in ec.captions["stage_event"] and "No " not in ec.captions["stage_event"]
    assert list(truth["missing_channels"]) == ["AF"]  # the fixture's missing lead: no sentence, NaN
    assert "Air Flow" not in ec.captions["respiratory"] and "Thoracic Respiration" in ec.captions["respiratory"]
    assert math.isnan(ec.features["af_rate_bpm"])


def test_tracks_aliases_and_json(sim_file) -> None:
    ec = caption_epoch(sim_file, 2, tracks=["heart", "position_muscle", "cardiac"])
    assert list(ec.captions) == ["cardiac", "somatic"]
    d = epoch_caption_to_dict(ec)
    text = json.dumps(d, allow_nan=False)  # NaN features become null
    back = json.loads(text)
    assert back["epoch"] == 2 and back["captions"] == ec.captions and back["generated"] is None
    assert back["clock_time"] == ec.clock_time.isoformat()
    assert set(back["features"]) == set(FEATURE_COLUMNS)
    for c, v in ec.features.items():
        if isinstance(v, float) and math.isnan(v):
            assert back["features"][c] is None
    with pytest.raises(ValueError, match="unknown caption track 'ecg'"):
        caption_epoch(sim_file, 0, tracks=["ecg"])


def test_out_of_range_names_file_and_range(sim_file) -> None:
    for k in (40, 5000, -1):
        with pytest.raises(PSGError, match=rf"epoch {k} out of range: night has 40 epochs \(0–39\)") as ei:
            caption_epoch(sim_file, k)
        assert ei.value.path == str(sim_file) and sim_file.name in str(ei.value)
    with pytest.raises(TypeError):
        caption_epoch(sim_file, 1.5)  # type: ignore[arg-type]


def test_with_model_generates_per_track(sim_file) -> None:
    if not (PARITY_MINI / "checkpoint.pt").exists():
        pytest.skip("parity-mini checkpoint absent")
    from sleeplm.encoder.model import load_model

    model = load_model(PARITY_MINI / "checkpoint.pt", config=PARITY_MINI / "config.json")
    ec = caption_epoch(sim_file, 5, tracks=["stage_event"], model=model)
    assert set(ec.generated) == {"stage_event"} and isinstance(ec.generated["stage_event"], str)
    assert json.loads(json.dumps(epoch_caption_to_dict(ec)))["generated"] == ec.generated


def test_real_files(shared_data: Path) -> None:
    nox = shared_data / "real" / "nox-a1-2min" / "subject1.edf"
    ec = caption_epoch(nox, 3)
    assert ec.n_epochs == 4 and ec.stage == "UNKNOWN" and ec.events == []
    assert ec.clock_time.isoformat() == "2018-02-06T01:38:20"
    assert "Unscored Stage" in ec.captions["stage_event"]
    assert all("No " not in ec.captions[t] for t in ("brain", "cardiac", "respiratory", "somatic"))
    with pytest.raises(PSGError, match="epoch 4 out of range: night has 4 epochs"):
        caption_epoch(nox, 4)
    dreams = shared_data / "real" / "dreams-eeg" / "excerpt1.txt"
    ec = caption_epoch(dreams, 30)
    psg = load_psg(dreams)
    assert ec.clock_time is None and ec.stage == psg.annotations.stages[30]
    # the excerpt's lead is C3-A1 (its first line): the caption names it, not the C3-A2 it stands in for
    assert ec.captions["brain"].startswith("Central EEG Activity (C3-A1 in place of C3-A2):")
    assert "EOG" not in ec.captions["brain"] and "(C4-A1)" not in ec.captions["brain"]
    assert ec.captions["cardiac"] == "No ECG or oximetry signal is available for this epoch."
    assert json.dumps(epoch_caption_to_dict(ec), allow_nan=False)


def test_model_captions_of_tracks_without_any_input_are_withheld(make_edf) -> None:
    """An EEG-only file: the model is not asked to caption the heart, breathing or chin it was not given."""
    if not (PARITY_MINI / "checkpoint.pt").exists():
        pytest.skip("parity-mini checkpoint absent")
    from sleeplm.encoder.model import load_model

    rng = np.random.default_rng(3)
    path = make_edf("eeg-only.edf", {"C3-M2": (rng.normal(0, 20, 256 * 120), 256.0, "uV")})
    model = load_model(PARITY_MINI / "checkpoint.pt", config=PARITY_MINI / "config.json")
    ec = caption_epoch(path, 1, model=model)
    assert set(ec.withheld) == {"cardiac", "respiratory", "somatic"}
    assert set(ec.generated) == {"stage_event", "brain"}
    assert "ECG" in ec.withheld["cardiac"] and epoch_caption_to_dict(ec)["withheld"] == ec.withheld
