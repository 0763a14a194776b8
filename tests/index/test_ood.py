"""Out-of-distribution scores (index/ood.py): calibration, the asset beside the weights, real vs simulated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleeplm.index.ood import (THRESHOLD, fit_reference, load_reference, night_score, reference_for,
                               reference_path, save_reference)
from sleeplm.index.models import resolve_model


def _gaussian(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 16)) + shift


def test_held_out_epochs_of_the_reference_distribution_score_under_the_threshold_99_percent_of_the_time() -> None:
    ref = fit_reference(_gaussian(4000, 0), _gaussian(4000, 1), "sha", {})
    share_over = float((ref.epoch_scores(_gaussian(20000, 2)) > THRESHOLD).mean())
    assert 0.005 < share_over < 0.02


def test_shifted_epochs_score_over_the_threshold() -> None:
    ref = fit_reference(_gaussian(4000, 0), _gaussian(4000, 1), "sha", {})
    assert night_score(ref.epoch_scores(_gaussian(200, 3, shift=1.5))) > THRESHOLD


def test_the_asset_round_trips_and_belongs_to_its_weights_only(tmp_path: Path) -> None:
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"w")
    ref = fit_reference(_gaussian(500, 0), _gaussian(500, 1), "abc", {"note": "test"})
    save_reference(ref, reference_path(weights))
    back = reference_for(weights, "abc")
    assert back is not None and back.info["note"] == "test"
    np.testing.assert_allclose(back.epoch_scores(_gaussian(5, 4)), ref.epoch_scores(_gaussian(5, 4)), rtol=1e-5)
    assert reference_for(weights, "another sha") is None


def test_a_damaged_asset_is_an_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "m.ood.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="m.ood.npz"):
        load_reference(bad)


def test_the_bundled_model_ships_a_reference_for_its_weights() -> None:
    ref = resolve_model("sleeplm-tiny")
    assert reference_for(ref.weights, ref.sha256) is not None


def test_real_dreams_eeg_is_further_from_the_training_data_than_held_out_simulated_nights(shared_data: Path) -> None:
    from sleeplm.encoder.io.psg import load_psg
    from sleeplm.encoder.signals.preprocess import make_epochs
    from sleeplm.encoder.train.data import process_night

    ref = resolve_model("sleeplm-tiny")
    ood = reference_for(ref.weights, ref.sha256)
    model = ref.load()
    # held-out simulated nights: a root seed used neither by the training data (1) nor the reference (1000001)
    sim = [night_score(ood.epoch_scores(model.encode_signal(
        process_night(4242, i, 1.0, 0, 0, model.brain_scale)[0].astype(np.float32)))) for i in range(2)]
    real = []
    for name in ("excerpt1.txt", "excerpt2.txt"):
        psg = load_psg(shared_data / "real" / "dreams-eeg" / name)
        x = make_epochs(psg.mapped, psg.annotations, brain_scale=model.brain_scale).x
        real.append(night_score(ood.epoch_scores(model.encode_signal(x))))
    assert min(real) > max(sim)
    assert max(sim) < THRESHOLD < min(real)


def test_ingest_stores_epoch_and_night_scores(tmp_path: Path) -> None:
    import duckdb

    from sleeplm.encoder.sim import simulate_cohort
    from sleeplm.index.ingest import ingest

    simulate_cohort(tmp_path / "c", n_nights=1, seed=515, duration_h=0.5, progress=False)
    ingest(tmp_path / "c", tmp_path / "ws", model="sleeplm-tiny", progress=False)
    con = duckdb.connect(str(tmp_path / "ws" / "cohort.duckdb"), read_only=True)
    epochs = np.array([r[0] for r in con.execute("SELECT ood_score FROM epoch_vectors ORDER BY epoch_id").fetchall()])
    night = con.execute("SELECT ood_score FROM night_vectors").fetchone()[0]
    con.close()
    assert np.isfinite(epochs).all() and len(epochs) == 60
    assert night == pytest.approx(float(np.median(epochs)))


def test_a_model_without_a_reference_stores_no_score(sim_workspace: Path) -> None:
    import duckdb

    con = duckdb.connect(str(sim_workspace / "cohort.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM night_vectors WHERE ood_score IS NOT NULL").fetchone()[0] == 0
    con.close()
