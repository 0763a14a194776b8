"""The ``sleeplm`` command line. Thin: it parses arguments and calls the packages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sleeplm.encoder.records import PSGError

app = typer.Typer(
    name="sleeplm",
    help="Chat with a sleep cohort: read PSG, simulate nights, caption epochs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _fail(exc: Exception, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _print_inspect(report: dict[str, Any]) -> None:
    console.print(
        f"[bold]{report['path']}[/]  {report['file_type']}  start {report['start_time'] or 'unknown'}  "
        f"duration {report['duration_s'] / 3600:.2f} h ({report['duration_s']:.0f} s)  {report['n_signals']} signals"
    )
    table = Table("SleepLM channel", "source", "derivation", "note")
    for ch, src in report["sleeplm_channels"].items():
        table.add_row(ch, " - ".join(src["labels"]), src["derivation"], src["note"])
    for ch in report["missing"]:
        table.add_row(ch, "[red]missing[/]", "", "zeros + mask in the model input")
    console.print(table)
    if report["position_coding"]:
        console.print(f"position coding: {report['position_coding']}")
    sig = Table("label", "fs (Hz)", "unit", "maps to / why not")
    for c in report["channels"]:
        sig.add_row(c["label"], f"{c['fs_hz']:g}", c["unit"], c["maps_to"] or f"[dim]{c.get('reason', '')}[/]")
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
        console.print("  events: " + (", ".join(f"{k} {v}" for k, v in ann["event_counts"].items()) or "none"))


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="EDF/EDF+/BDF recording")],
    annotations: Annotated[Path | None, typer.Option(help="annotation file (default: sidecar or EDF+)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Channels, their SleepLM mapping, repairs, and the annotations of a recording."""
    from sleeplm.encoder.psg import inspect_psg

    try:
        report = inspect_psg(file, annotations)
    except PSGError as exc:
        _fail(exc)
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
) -> None:
    """Simulate a cohort: EDF+ nights, NSRR XML annotations and subjects.csv."""
    from sleeplm.encoder.simulate import simulate_cohort

    paths = simulate_cohort(out, n_nights=nights, seed=seed, duration_h=hours, progress=True)
    console.print(f"wrote {len(paths)} nights to {out}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
