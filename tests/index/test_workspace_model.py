"""A workspace is read only with the weights that built it; when a model of that name changed, the error says what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def test_a_workspace_built_with_other_weights_of_the_same_model_name_says_to_ingest_again(sim_workspace: Path,
                                                                                          tmp_path: Path) -> None:
    from sleeplm.index.queries import Cohort
    from sleeplm.index.workspace import WorkspaceError

    ws = tmp_path / "ws"
    shutil.copytree(sim_workspace, ws)
    manifest = json.loads((ws / "manifest.json").read_text())
    manifest["model_sha256"] = "0" * 64  # as if the model of that name had been replaced since ingest
    (ws / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WorkspaceError, match="not comparable.*Ingest the cohort again"):
        Cohort(ws)
