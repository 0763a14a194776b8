"""The layout's rules (docs/architecture.md), checked on the source: who may import whom, where SQL lives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from testdata import REPO

PACKAGES = ("encoder", "index", "agent", "app", "eval")

#: package (or encoder sub-package) -> the sleeplm packages it may import.
ALLOWED: dict[str, set[str]] = {
    "app": {"agent", "index", "encoder", "eval", "app"},
    "agent": {"index", "encoder", "agent"},
    "index": {"encoder", "index"},
    "eval": {"index", "encoder", "eval"},
    "encoder": {"encoder"},
}
#: inside encoder: layer -> the encoder layers it may import (vocab is everyone's).
ENCODER_LAYERS: dict[str, set[str]] = {
    "vocab": set(),
    "io": {"io"},
    "signals": {"io", "signals"},
    "captions": {"io", "signals", "captions"},
    "model": {"model"},
    "pipeline": {"io", "signals", "captions", "model"},
    "sim": {"io", "signals", "captions", "sim"},
    "train": {"io", "signals", "captions", "model", "sim", "pipeline", "train"},
}


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def _sleeplm_imports(path: Path) -> list[str]:
    """Dotted ``sleeplm.*`` modules a file imports (at any depth: lazy imports count too)."""
    return [m for m in _imports(path) if m.split(".")[0] == "sleeplm"]


def _encoder_layer(path: Path) -> str:
    rel = path.relative_to(REPO / "encoder")
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_downstream(package: str) -> None:
    bad = [f"{p.relative_to(REPO)} imports {m}" for p in _sources(package) for m in _sleeplm_imports(p)
           if m.split(".")[1] not in ALLOWED[package]]
    assert bad == []


def test_encoder_layers_import_only_lower_layers() -> None:
    bad = []
    for p in _sources("encoder"):
        layer = _encoder_layer(p)
        if layer not in ENCODER_LAYERS:
            continue  # the package's own __init__
        for m in _sleeplm_imports(p):
            parts = m.split(".")
            if parts[1] != "encoder" or len(parts) < 3:
                continue
            if parts[2] != "vocab" and parts[2] not in ENCODER_LAYERS[layer] | {layer}:
                bad.append(f"{p.relative_to(REPO)} ({layer}) imports {m}")
    assert bad == []


def test_every_encoder_module_belongs_to_a_layer() -> None:
    unknown = {_encoder_layer(p) for p in _sources("encoder")} - set(ENCODER_LAYERS) - {"__init__"}
    assert unknown == set()


_SQL = re.compile(r"\.execute\(|\bSELECT\b[^\n]*\bFROM\b|\bINSERT INTO\b|\bCREATE TABLE\b", re.IGNORECASE)


@pytest.mark.parametrize("package", ("encoder", "agent", "app", "eval"))
def test_sql_runs_only_in_index(package: str) -> None:
    bad = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in _sources(package) for m in _SQL.finditer(p.read_text())]
    assert bad == []
