"""`mas report`: every finished figure on one HTML page, each beside the paper's claims and our verdicts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, RUNS, command, emit_json, out_console
from mas.errors import MasError
from mas.io import atomic_write_bytes, write_json
from mas.report import collect, describe, render
from mas.run_folder import claim_folder, staged_folder

REPORT = "report"  # the run marker's command


@command
def report(
    runs: Path = typer.Option(RUNS, help="Folder holding the figure run folders (figure_2ab, figure_2d, ...)."),
    out: Path = typer.Option(RUNS / "report", help="Report folder: report.html and claims.json."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Gather the finished figures into one self-contained HTML page; list the ones still to run."""
    if not runs.is_dir():
        raise MasError(f"--runs {runs} is not a folder; give the folder that holds the figure run folders")
    settings = {"runs": str(runs.resolve())}
    claim_folder(out, REPORT, settings, overwrite=overwrite)
    figures = collect(runs)
    page = render(figures)
    claims = [c for f in figures if f["finished"] for c in f["claims"]]
    with staged_folder(out, REPORT, settings) as folder:
        atomic_write_bytes(folder / "report.html", page.encode("utf-8"))
        write_json(folder / "claims.json", {"figures": figures})
    table = Table(title="the paper's claims against our runs")
    for column in ("figure", "claim", "ours", "compared with", "verdict"):
        table.add_column(column)
    for c in claims:
        table.add_row(c["figure"], c["claim"], describe(c["ours"]), describe(c["other"]), c["verdict"])
    if claims:
        out_console.print(table)
    for f in figures:
        if not f["finished"]:
            out_console.print(f"not yet run: {f['figure']}  ({f['command']})", highlight=False)
    out_console.print(f"report in {out / 'report.html'}", highlight=False)
    if json_out:
        emit_json({"report": str(out / "report.html"), "claims": claims,
                   "not_run": [f["figure"] for f in figures if not f["finished"]]})

