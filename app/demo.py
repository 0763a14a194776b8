"""``sleeplm demo``: a simulated cohort, ingested with the bundled model, cached, then served.

On a fresh machine :func:`prepare_demo` simulates :data:`DEMO_NIGHTS` whole nights of
:data:`DEMO_HOURS` h (the simulator rotates through its nine phenotypes, so the cohort mixes healthy
young and older sleepers, obstructive apnea of each severity, central apnea, insomnia, fragmented
sleep and REM sleep without atonia; every night reaches REM, and the ODI differs from the AHI because
not every respiratory event desaturates), in parallel processes, ingests them with the bundled
``sleeplm-tiny`` model and records what it built in ``demo.json``. The next run finds the same recipe there and
reuses the workspace; an interrupted run resumes (simulation is deterministic per night and
ingestion skips nights already stored).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

DEMO_NIGHTS = 12
DEMO_HOURS = 6.5
DEMO_SEED = 2024
DEFAULT_CACHE = Path("~/.cache/sleeplm/demo")
MARKER = "demo.json"


class DemoError(RuntimeError):
    """The demo cannot be built here (e.g. no bundled model)."""


@dataclass(frozen=True)
class DemoRecipe:
    """What a cached demo was built from; a different recipe rebuilds it."""

    nights: int
    hours: float
    seed: int
    model_sha256: str


def _say(message: str) -> None:
    print(f"[sleeplm demo] {message}", flush=True)


def _model_ref(model: str | None):
    from sleeplm.index.models import DEFAULT_MODEL, resolve_model

    try:
        return resolve_model(model)
    except FileNotFoundError as exc:
        if model is None:
            raise DemoError(
                f"the bundled model {DEFAULT_MODEL!r} is not installed, so the demo cannot embed its cohort ({exc}). "
                "Reinstall sleeplm with its assets, or build a workspace with `sleeplm ingest --model PATH` "
                "and open it with `sleeplm serve`."
            ) from exc
        raise DemoError(f"model {model!r} not found: {exc}") from exc


def prepare_demo(cache_dir: Path | None = None, nights: int = DEMO_NIGHTS, hours: float = DEMO_HOURS,
                 seed: int = DEMO_SEED, model: str | None = None,
                 say: Callable[[str], None] = _say) -> Path:
    """The demo workspace, built (simulate + ingest) unless the cache already holds it.

    Parameters
    ----------
    cache_dir : folder for ``cohort/`` and ``workspace/`` (default ``~/.cache/sleeplm/demo``).
    nights, hours, seed : the simulated cohort.
    model : model name or checkpoint path (default: the bundled ``sleeplm-tiny``).
    """
    from sleeplm.encoder.sim import simulate_cohort
    from sleeplm.index.ingest import ingest

    cache = Path(cache_dir or DEFAULT_CACHE).expanduser()
    cohort_dir, workspace = cache / "cohort", cache / "workspace"
    ref = _model_ref(model)
    recipe = DemoRecipe(nights, float(hours), seed, ref.sha256)
    marker = cache / MARKER
    if marker.is_file() and (workspace / "manifest.json").is_file():
        try:
            if DemoRecipe(**json.loads(marker.read_text())) == recipe and _current_schema(workspace):
                say(f"using the cached demo cohort in {cache}")
                return workspace
        except (TypeError, ValueError):
            pass
        say("the cached demo was built differently (or by an older sleeplm); rebuilding it")
        if not _current_schema(workspace):
            _clear(workspace)
    if marker.is_file():
        marker.unlink()
    cohort_recipe = {"nights": nights, "hours": float(hours), "seed": seed}
    previous = cohort_dir / "recipe.json"
    if cohort_dir.is_dir() and (not previous.is_file() or json.loads(previous.read_text()) != cohort_recipe):
        _clear(cohort_dir)  # another (or an unknown) cohort: its nights must not mix with these
        _clear(workspace)
    manifest = workspace / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("model_sha256") != ref.sha256:
        _clear(workspace)  # built by another model
    t0 = time.perf_counter()
    have = len(list(cohort_dir.glob("*.edf"))) if cohort_dir.is_dir() else 0
    if have < nights or not (cohort_dir / "subjects.csv").is_file():
        say(f"simulating {nights} nights of {hours:g} h into {cohort_dir} (seed {seed}) ...")
        simulate_cohort(cohort_dir, n_nights=nights, seed=seed, duration_h=hours, progress=True,
                        workers=min(os.cpu_count() or 1, nights))
        previous.write_text(json.dumps(cohort_recipe))
    t_sim = time.perf_counter() - t0
    say(f"embedding them with {ref.name} into {workspace} ...")
    report = ingest(cohort_dir, workspace, model=model, progress=True)
    if report.failed:
        raise DemoError("demo nights failed to ingest: " + "; ".join(m for _, m in report.failed))
    marker.write_text(json.dumps(asdict(recipe), indent=2) + "\n")
    say(f"demo cohort ready in {time.perf_counter() - t0:.0f} s (simulation {t_sim:.0f} s; "
        f"{len(report.ingested)} nights ingested, {len(report.skipped)} reused)")
    return workspace


def _current_schema(workspace: Path) -> bool:
    """Whether a cached workspace opens with this sleeplm's schema (an older one is rebuilt, not refused)."""
    from sleeplm.index.workspace import Workspace, WorkspaceError

    try:
        Workspace(workspace).connect(read_only=True).close()
    except WorkspaceError as exc:
        return "version of sleeplm" not in str(exc)  # busy or missing: not a reason to delete it
    return True


def _clear(folder: Path) -> None:
    import shutil

    if folder.is_dir():
        shutil.rmtree(folder)


def demo(cache_dir: Path | None = None, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = True,
         llm: str | None = None, auth: str | None = None) -> None:
    """Build (or reuse) the demo cohort and serve the chat page for it."""
    from .web import serve

    workspace = prepare_demo(cache_dir)
    _say(f"serving on http://{host}:{port}")
    serve(workspace, host=host, port=port, auth=auth, llm=llm, open_browser=open_browser)
