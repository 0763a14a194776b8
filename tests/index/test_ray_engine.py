"""The Ray engine builds the same workspace as the single-process engine."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from sleeplm.index.ingest import ingest
from sleeplm.index.workspace import Workspace, check_workspace
from testdata import MINI_CHECKPOINT

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'sleeplm[ray]'")
MINI = MINI_CHECKPOINT


def _dump(ws: Path) -> dict[str, list]:
    con = duckdb.connect(str(Workspace(ws).db_path), read_only=True)
    try:
        return {
            "recordings": con.execute("SELECT * EXCLUDE (ingested_at) FROM recordings ORDER BY recording_id").fetchall(),
            "epochs": con.execute("SELECT * FROM epochs ORDER BY epoch_id").fetchall(),
            "events": con.execute("SELECT * FROM events ORDER BY event_id").fetchall(),
            "captions": con.execute("SELECT * FROM captions ORDER BY epoch_id, track").fetchall(),
            "subjects": con.execute("SELECT * FROM subjects ORDER BY subject_id").fetchall(),
            "vectors": con.execute("SELECT epoch_id, vec FROM epoch_vectors ORDER BY epoch_id").fetchall(),
            "nights": con.execute("SELECT recording_id, vec FROM night_vectors ORDER BY recording_id").fetchall(),
            "features": con.execute("SELECT * FROM features ORDER BY epoch_id").df().round(6).to_dict("list"),
        }
    finally:
        con.close()


@pytest.mark.slow
def test_ray_workspace_equals_single_process_workspace(tmp_path: Path) -> None:
    from sleeplm.encoder.sim import simulate_cohort

    cohort = tmp_path / "cohort"
    simulate_cohort(cohort, n_nights=2, seed=11, duration_h=0.5, progress=False)
    (cohort / "bad.edf").write_text("nope")
    local = ingest(cohort, tmp_path / "local", model=str(MINI), progress=False)
    on_ray = ingest(cohort, tmp_path / "ray", model=str(MINI), progress=False, engine="ray", ray_num_cpus=2)
    assert sorted(on_ray.ingested) == sorted(local.ingested) and len(on_ray.failed) == len(local.failed) == 1
    assert on_ray.failed[0][1] == local.failed[0][1]
    a, b = _dump(tmp_path / "local"), _dump(tmp_path / "ray")
    for table in ("recordings", "epochs", "events", "captions", "subjects"):
        assert a[table] == b[table], table
    for table in ("vectors", "nights"):
        assert [r[0] for r in a[table]] == [r[0] for r in b[table]]
        np.testing.assert_allclose(np.array([r[1] for r in a[table]]), np.array([r[1] for r in b[table]]), atol=1e-6)
    assert a["features"].keys() == b["features"].keys()
    assert check_workspace(Workspace(tmp_path / "ray")) == []
