"""The ``sleeplm`` command line. Thin: it parses arguments and calls the packages."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from sleeplm.encoder.io.records import PSGError

from .cli_common import console, err_console, fail as _fail, table as _table
from .cli_models import adapt, evaluate, train

app = typer.Typer(
    name="sleeplm",
    help="Chat with a sleep cohort: read PSG, simulate nights, caption epochs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_inspect(report: dict[str, Any]) -> None:
    console.print(
        f"[bold]{report['path']}[/]  {report['file_type']}  start {report['start_time'] or 'unknown'}  "
        f"duration {report['duration_s'] / 3600:.2f} h ({report['duration_s']:.0f} s)  {report['n_signals']} signals"
    )
    if report.get("montage"):
        m = report["montage"]
        console.print(f"montage recognised: {m['source']} ({m['coverage']:.0%} of its documented labels present)")
    table = Table("SleepLM channel", "source", "lead recorded", "derivation", "note")
    for ch, src in report["sleeplm_channels"].items():
        table.add_row(ch, " - ".join(src["labels"]), src.get("lead", ""), src["derivation"], src["note"])
    for ch in report["missing"]:
        table.add_row(ch, "[red]missing[/]", "", "zeros + mask in the model input")
    console.print(table)
    if report["position_coding"]:
        console.print(f"position coding: {report['position_coding']}")
    sig = Table("label", "fs (Hz)", "unit", "status", "maps to", "why")
    for c in report["channels"]:
        sig.add_row(c["label"], f"{c['fs_hz']:g}", c["unit"], c.get("status", ""), c["maps_to"] or "",
                    f"[dim]{c.get('reason', '')}[/]")
    console.print(sig)
    for r in report["repairs"]:
        console.print(f"[yellow]repaired:[/] {r}")
    for w in report["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    ann = report["annotations"]
    if ann is None:
        console.print("annotations: none found")
    else:
        console.print(f"annotations: {ann['source']} ({ann['path']}), {ann['n_epochs']} epochs from {ann['stage_onset_s']} s")
        console.print("  stages: " + ", ".join(f"{k} {v}" for k, v in ann["stage_counts"].items()))
        console.print("  events: " + (", ".join(f"{k} {v}" for k, v in ann["event_counts"].items()) or "none listed"))
        for kind, sc in ann.get("scoring", {}).items():
            detail = sc["method"] if sc["state"] != "not scored" else sc["reason"]
            console.print(f"  {kind}: {sc['state']}" + (f" ({detail})" if detail else ""))


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="EDF/EDF+/BDF recording")],
    annotations: Annotated[Path | None, typer.Option(help="annotation file (default: sidecar or EDF+)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Channels, their SleepLM mapping, repairs, and the annotations of a recording."""
    from sleeplm.encoder.io.psg import inspect_psg
    from sleeplm.index.failures import describe_failure

    try:
        report = inspect_psg(file, annotations)
    except PSGError as exc:
        _fail(exc)
    except Exception as exc:  # noqa: BLE001 - whatever the file does, a sentence, never a traceback
        _fail(ValueError(describe_failure(file, "reading", exc, annotations)))
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        _print_inspect(report)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="output folder")],
    nights: Annotated[int, typer.Option(min=1, help="number of nights (one subject each)")] = 10,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    hours: Annotated[float | None, typer.Option(help="night length (h); default drawn per subject")] = None,
    wake_artifacts: Annotated[bool, typer.Option(
        "--wake-artifacts", help="eye movements, scalp muscle and body movement in the EEG of wake epochs (30 % of "
        "wake runs active, 0.15-0.6 movement bursts per wake epoch); default off, as the documented evaluation "
        "cohorts were made (the shipped weights' training split has them)")
    ] = False,
) -> None:
    """Simulate a cohort: EDF+ nights, NSRR XML annotations and subjects.csv."""
    from sleeplm.encoder.sim import simulate_cohort

    paths = simulate_cohort(out, n_nights=nights, seed=seed, duration_h=hours, progress=True,
                            wake_artifacts=wake_artifacts)
    console.print(f"wrote {len(paths)} nights to {out}")


@app.command()
def caption(
    file: Annotated[Path, typer.Argument(help="EDF/EDF+/BDF recording")],
    epoch: Annotated[int, typer.Option(help="epoch index (0-based, 30-s epochs from the annotation clock)")],
    track: Annotated[list[str] | None, typer.Option(help="stage_event, brain, cardiac, respiratory, somatic")] = None,
    model: Annotated[str | None, typer.Option(help="also generate with this model (name or checkpoint path)")] = None,
    model_config: Annotated[str | None, typer.Option(help="config for a checkpoint without one")] = None,
    annotations: Annotated[Path | None, typer.Option(help="annotation file (default: sidecar or EDF+)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Reference captions of an epoch (and the model's, with --model), with its stage, events and features."""
    from sleeplm.encoder.pipeline import caption_epoch, epoch_caption_to_dict
    from sleeplm.encoder.model import load_model

    try:
        net = load_model(model, config=model_config) if model else None
        ec = caption_epoch(file, epoch, track or None, model=net, annotations=annotations)
    except (PSGError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    obj = epoch_caption_to_dict(ec)

    def render(o: dict[str, Any]) -> None:
        for w in o["warnings"]:
            err_console.print(Text("warning: ", style="yellow") + Text(w), soft_wrap=True, highlight=False)
        console.print(f"[bold]{o['path']}[/] epoch {o['epoch']} of {o['n_epochs']} "
                      f"(onset {o['onset_s']:.0f} s{', ' + o['clock_time'] if o['clock_time'] else ''}), stage {o['stage']}")
        for t, text in o["captions"].items():
            console.print(f"[cyan]{t}[/] reference: {text}", soft_wrap=True)
            if t in (o.get("withheld") or {}):
                console.print(f"[magenta]{t}[/] model:     withheld — {o['withheld'][t]}", soft_wrap=True)
            elif o["generated"]:
                console.print(f"[magenta]{t}[/] model:     {o['generated'][t]}", soft_wrap=True)

    _emit(obj, as_json, render)


# ------------------------------------------------------------------------------------------ workspace
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="workspace folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _emit(obj: Any, as_json: bool, render) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    else:
        render(obj)


def _open_cohort(workspace: Path, model: str | None, model_config: str | None):
    from sleeplm.index.models import resolve_model
    from sleeplm.index.queries import Cohort
    from sleeplm.index.workspace import WorkspaceError

    try:
        ref = resolve_model(model, model_config) if model else None
        return Cohort(workspace, model=ref.load() if ref else None, model_ref=ref)
    except (WorkspaceError, FileNotFoundError) as exc:
        _fail(exc)


@app.command()
def ingest(
    cohort: Annotated[Path, typer.Argument(help="folder of EDF/BDF recordings and their annotations")],
    workspace: WorkspaceOpt,
    model: Annotated[str | None, typer.Option(help="model name or checkpoint path (default: bundled sleeplm-tiny)")] = None,
    model_config: Annotated[str | None, typer.Option(help="config name/JSON for a checkpoint without one")] = None,
    subjects: Annotated[Path | None, typer.Option(help="subjects CSV (default: COHORT/subjects.csv)")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    engine: Annotated[str, typer.Option(help="local (one process) or ray (pip install 'sleeplm[ray]')")] = "local",
    ray_cpus: Annotated[int | None, typer.Option(help="CPUs for a local Ray started by this command")] = None,
    workers: Annotated[int | None, typer.Option(min=0, help="local engine: processes that read and prepare nights "
                                                        "while this one embeds (0: one process; default: cores - 1 "
                                                        "for cohorts of 32 MB or more)")] = None,
    score: Annotated[str, typer.Option(help="automatic scoring (YASA stages, AASM respiratory rules), stored as "
                                            "automatic: missing (kinds nobody scored), auto (every kind), never")
                     ] = "missing",
) -> None:
    """Embed every epoch of a cohort into a workspace (resumable; bad files are listed, not fatal)."""
    from sleeplm.index.ingest import ingest as run_ingest
    from sleeplm.index.workspace import WorkspaceError

    try:
        report = run_ingest(cohort, workspace, model, model_config, subjects, batch_size, engine=engine,
                            ray_num_cpus=ray_cpus, score=score, workers=workers)
    except (WorkspaceError, FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(exc)
    console.print(
        f"ingested {len(report.ingested)} nights ({report.epochs_added} epochs), skipped {len(report.skipped)} "
        f"unchanged, {len(report.failed)} failed, in {report.seconds:.1f} s; {report.device}; "
        f"indexes {report.index_kinds}"
    )
    for path, message in report.failed:
        err_console.print(Text("failed: ", style="red") + Text(message), soft_wrap=True, highlight=False)
    if report.subjects_updated:
        console.print(f"subject attributes updated from the subjects table: {', '.join(report.subjects_updated)}")
    for path, message in report.unused:
        err_console.print(Text("not used: ", style="yellow") + Text(message), soft_wrap=True, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def check(
    workspace: WorkspaceOpt,
    repair: Annotated[bool, typer.Option(help="rebuild the FAISS files and the manifest from cohort.duckdb")] = False,
    ids_only: Annotated[bool, typer.Option("--ids-only", help="compare ids only, not every vector (faster)")] = False,
) -> None:
    """Verify a workspace: FAISS ids and vectors == DuckDB's, counts, manifest (--repair rebuilds them)."""
    from sleeplm.index.workspace import Workspace, WorkspaceError, check_workspace, repair_workspace

    ws = Workspace(workspace)
    if repair:
        try:
            m = repair_workspace(ws)
        except WorkspaceError as exc:
            _fail(exc)
        console.print(f"{workspace}: rebuilt epochs.faiss, nights.faiss and manifest.json from cohort.duckdb "
                      f"({m.counts.get('recordings', 0)} nights, {m.counts.get('epochs', 0)} epochs)")
    problems = check_workspace(ws, content=not ids_only)
    if problems:
        for p in problems:
            err_console.print(Text("problem: ", style="red") + Text(p), soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    console.print(f"{workspace}: consistent ({'ids' if ids_only else 'ids and every vector'} checked)")


def _filters(recording, stage, event, phenotype, sex, age_min, age_max, hours_min, hours_max):
    from sleeplm.index.queries import EpochFilter

    return EpochFilter(recordings=recording or None, stages=stage or None, event_types=event or None,
                       phenotype=phenotype or None, sex=sex or None, age_min=age_min, age_max=age_max,
                       hours_min=hours_min, hours_max=hours_max)


def _unknown_filter_values(cohort, recording, stage, event, phenotype, sex, hours_min, hours_max) -> list[str]:
    """One sentence per filter value no epoch of the cohort can have (a typo reads as "no match" otherwise)."""
    from sleeplm.encoder.vocab import EVENT_TYPES, STAGES

    problems = []
    names = set(cohort.recording_names())
    for what, given, known in (("recording", recording, sorted(names)), ("stage", stage, list(STAGES)),
                               ("event type", event, list(EVENT_TYPES)),
                               ("phenotype", phenotype, cohort.subject_values("phenotype")),
                               ("sex", sex, cohort.subject_values("sex"))):
        bad = [v for v in (given or []) if v not in known]
        if bad:
            problems.append(f"no {what} {', '.join(repr(v) for v in bad)} in this cohort (known: "
                            f"{', '.join(map(str, known[:12]))}{' …' if len(known) > 12 else ''})")
    if hours_min is not None and hours_max is not None and hours_min > hours_max:
        problems.append(f"--hours-min {hours_min:g} is after --hours-max {hours_max:g}")
    return problems


def _print_hits(hits: list[dict[str, Any]]) -> None:
    _table(["score", "recording", "epoch", "clock", "stage", "events", "reference caption"],
           [(h["score"], h["recording"], h["epoch_index"], (h["clock_time"] or "")[11:19], h["stage"],
             ",".join(h["event_types"]), h["caption"][:80]) for h in hits])


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to find, e.g. 'obstructive apnea in REM'")],
    workspace: WorkspaceOpt,
    k: Annotated[int, typer.Option("-k", min=1)] = 10,
    recording: Annotated[list[str] | None, typer.Option(help="only these recordings")] = None,
    stage: Annotated[list[str] | None, typer.Option(help="only these stages (W N1 N2 N3 REM)")] = None,
    event: Annotated[list[str] | None, typer.Option(help="only epochs overlapping these event types")] = None,
    phenotype: Annotated[list[str] | None, typer.Option()] = None,
    sex: Annotated[list[str] | None, typer.Option()] = None,
    age_min: Annotated[float | None, typer.Option()] = None,
    age_max: Annotated[float | None, typer.Option()] = None,
    hours_min: Annotated[float | None, typer.Option(help="hours since recording start, from")] = None,
    hours_max: Annotated[float | None, typer.Option(help="hours since recording start, to")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Text → epochs: the epochs whose signals best match a description."""
    from dataclasses import asdict

    if not query.strip():
        _fail(ValueError("describe what to find, e.g. 'obstructive apnea in REM'"))
    cohort = _open_cohort(workspace, model, None)
    from sleeplm.index.workspace import WorkspaceError

    problems = _unknown_filter_values(cohort, recording, stage, event, phenotype, sex, hours_min, hours_max)
    if problems:
        _fail(ValueError("; ".join(problems)))
    try:
        hits = cohort.search_text(query, k, _filters(recording, stage, event, phenotype, sex, age_min, age_max,
                                                     hours_min, hours_max))
    except WorkspaceError as exc:  # e.g. a stale index: the message says how to repair it
        _fail(exc)
    if not hits and not as_json:
        console.print("no epoch meets these filters")
    _emit([asdict(h) for h in hits], as_json, _print_hits)


@app.command("similar-epochs", context_settings={"ignore_unknown_options": True})  # "-1" is an epoch, not an option
def similar_epochs(
    recording: Annotated[str, typer.Argument()],
    epoch: Annotated[int, typer.Argument(help="epoch index within the recording")],
    workspace: WorkspaceOpt,
    k: Annotated[int, typer.Option("-k", min=1)] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Epoch → the most similar epochs in the cohort."""
    from dataclasses import asdict

    cohort = _open_cohort(workspace, None, None)
    try:
        hits = cohort.similar_epochs(cohort.epoch_id(recording, epoch), k)
    except (KeyError, RuntimeError) as exc:  # RuntimeError: WorkspaceError (stale index)
        _fail(exc)
    _emit([asdict(h) for h in hits], as_json, _print_hits)


def _tool_answer(workspace: Path, tool: str, figures: Path | None, as_json: bool, **kwargs: Any) -> None:
    """Print what the chat answers with one tool (``--json``: the tool's result, the answer under "answer"); figures
    are kept in ``figures`` when given, else drawn in a temporary folder and left out."""
    from sleeplm.agent.tools import run_tool

    cohort = _open_cohort(workspace, None, None)
    try:
        with tempfile.TemporaryDirectory(prefix="sleeplm-figures-") as scratch:
            text, result = run_tool(cohort, tool, figures or scratch, **kwargs)
    except (KeyError, ValueError, RuntimeError) as exc:  # RuntimeError: WorkspaceError (stale index)
        _fail(exc)
    finally:
        cohort.close()
    result.pop("focus", None)
    if figures is None:  # drawn in a folder now removed
        result.pop("figures", None)
    shown = f"Figure: {', '.join(result['figures'])}" if result.get("figures") else None
    text = "\n\n".join(p if not p.startswith("Figure:") else shown for p in text.split("\n\n")
                       if shown or not p.startswith("Figure:"))
    _emit({**result, "answer": text}, as_json, lambda o: console.print(Markdown(o["answer"])))


@app.command("similar-nights")
def similar_nights(
    recording: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt,
    k: Annotated[int, typer.Option("-k", min=1)] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Night → the most similar nights, with their metrics side by side, who scored each and the model's
    out-of-distribution scores (the chat's answer; ``--json``: the tool's result with it under "answer")."""
    _tool_answer(workspace, "similar_nights", None, as_json, recording=recording, k=k)


@app.command()
def localize(
    recording: Annotated[str, typer.Argument()],
    query: Annotated[str, typer.Argument(help="the event to find, e.g. 'obstructive apnea'")],
    workspace: WorkspaceOpt,
    z_threshold: Annotated[float, typer.Option(help="robust z above which an epoch is found (--outlier)")] = 2.0,
    outlier: Annotated[bool, typer.Option("--outlier", help="within-night outliers instead of the calibrated "
                                                           "score against the no-event caption")] = False,
    figures: Annotated[Path | None, typer.Option(help="folder to keep the figure (PNG) in")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where in a night a described event happens: intervals and their match with annotations.

    The same reading as the chat's: "apnea" covers every apnea type, "in REM" restricts the search and the check to
    epochs scored REM, a stage alone is read from the scored hypnogram, and events nobody scored (or a program
    scored) are said to be so. ``--json`` prints the tool's result with the answer text under "answer".
    """
    _tool_answer(workspace, "localize_events", figures, as_json, description=query, recording=recording,
                 z_threshold=z_threshold, calibrated=not outlier)


@app.command()
def stats(
    workspace: WorkspaceOpt,
    what: Annotated[str, typer.Argument(help="nights | stages | events | metric | count")] = "nights",
    metric: Annotated[str | None, typer.Option(help="night metric for 'metric', e.g. ahi_per_h")] = None,
    by: Annotated[str, typer.Option(help="phenotype | sex | site | age_band | recording | stage")] = "phenotype",
    as_json: JsonOpt = False,
) -> None:
    """Cohort questions: per-night table, stage distribution, events, a metric by group, counts."""
    from sleeplm.agent.answers import scoring_note_lines
    from sleeplm.agent.cohort_tools import scoring_kinds
    from sleeplm.index import stats as st
    from sleeplm.index.queries import EpochFilter
    from sleeplm.index.workspace import Workspace, WorkspaceError

    try:
        con = Workspace(workspace).connect(read_only=True)
    except WorkspaceError as exc:
        _fail(exc)
    questions = {"nights": "list_nights", "stages": "stage_distribution", "events": "event_counts",
                 "metric": "compare_metric", "count": "count_epochs"}
    try:
        if what == "nights":
            table = st.nights_table(con)
        elif what == "stages":
            table = st.stage_distribution(con, by)
        elif what == "events":
            table = st.event_counts(con, by)
        elif what == "metric":
            metric = metric or "ahi_per_h"
            table = st.compare_metric(con, metric, by)
        elif what == "count":
            table = st.count_epochs(con, by=by)
        else:
            raise ValueError(f"unknown statistic {what!r}: nights, stages, events, metric or count")
    except ValueError as exc:
        _fail(exc)
    kinds = scoring_kinds(questions[what], metric if what == "metric" else None, EpochFilter())
    notes = st.scoring_notes(con, kinds)

    def render(_: Any) -> None:
        _table(table.columns, table.rows)
        for line in scoring_note_lines(notes, questions[what]):
            console.print(line, soft_wrap=True, highlight=False)

    _emit({"rows": table.to_records(), "scoring_notes": notes}, as_json, render)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="a question about the cohort")],
    workspace: WorkspaceOpt,
    llm: Annotated[str | None, typer.Option(help="router (default), openai:MODEL or ollama:MODEL; env SLEEPLM_LLM")] = None,
    llm_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL; env SLEEPLM_LLM_BASE_URL")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One chat turn from the terminal: the tool calls and the answer."""
    from sleeplm.agent import BackendError, ask as run_ask, load_llm, turn_to_dict
    from sleeplm.index.workspace import WorkspaceError

    try:
        model = load_llm(llm, llm_base_url) if (llm or llm_base_url) else None
        turn = run_ask(workspace, question, llm=model)
    except (BackendError, WorkspaceError, FileNotFoundError) as exc:
        _fail(exc)

    def render(o: dict[str, Any]) -> None:
        for step in o["steps"]:
            status = f"[red]error: {step['error']}[/]" if step["error"] else step["summary"]
            console.print(f"[dim]tool[/] {step['name']}({json.dumps(step['args'])}) {step['seconds']:.2f} s: {status}",
                          soft_wrap=True, highlight=False)
        console.print(o["answer"], soft_wrap=True)
        for f in o["figures"]:
            console.print(f"[dim]figure:[/] {f}")
        console.print(f"[dim]answered by {o['model']}[/]")

    _emit(turn_to_dict(turn), as_json, render)


@app.command()
def serve(
    workspace: WorkspaceOpt,
    host: Annotated[str, typer.Option(help="interface to bind (default loopback only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 7860,
    auth_user: Annotated[str | None, typer.Option(help="require this user name to open the page; the password "
                                                   "comes from $SLEEPLM_AUTH_PASSWORD or --auth-file")] = None,
    auth_file: Annotated[Path | None, typer.Option(help="a file holding 'user:password' (keep it private)")] = None,
    llm: Annotated[str | None, typer.Option(help="router (default), openai:MODEL or ollama:MODEL")] = None,
    max_upload_mb: Annotated[int, typer.Option(help="largest accepted upload (MB)")] = 2048,
    concurrency: Annotated[int | None, typer.Option(min=1, help="chat turns run at once (default: the page's "
                                                                "CHAT_CONCURRENCY)")] = None,
) -> None:
    """The chat page for a workspace."""
    import os

    from sleeplm.agent import BackendError
    from sleeplm.app.service import load_credentials
    from sleeplm.app.web import CHAT_CONCURRENCY
    from sleeplm.app.web import serve as run_serve
    from sleeplm.index.workspace import WorkspaceError

    try:
        credentials = load_credentials(auth_user, auth_file, os.environ)
        run_serve(workspace, host=host, port=port, auth=credentials, llm=llm, max_upload_bytes=max_upload_mb * 2**20,
                  concurrency=concurrency or CHAT_CONCURRENCY)
    except (WorkspaceError, BackendError, ValueError) as exc:
        _fail(exc)


@app.command()
def demo(
    cache_dir: Annotated[Path | None, typer.Option(help="where the demo cohort is kept (default ~/.cache/sleeplm/demo)")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 7860,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="do not open a browser")] = False,
    llm: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Simulate a dozen varied nights, ingest them with the bundled model (cached), open the chat page."""
    from sleeplm.agent import BackendError
    from sleeplm.app.demo import DemoError, demo as run_demo

    try:
        run_demo(cache_dir, host=host, port=port, open_browser=not no_browser, llm=llm)
    except (DemoError, BackendError, ValueError) as exc:
        _fail(exc)


app.command("eval")(evaluate)
app.command()(train)
app.command()(adapt)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
