"""`mas align`: MAS (or DAS) between model folders, scored on held-out pairs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.align import AlignConfig
from mas.commands._shared import (
    JSON_HELP,
    OVERWRITE_HELP,
    RUNS,
    command,
    emit_json,
    out_console,
    parse_directions,
    print_matrix,
    setting,
)
from mas.experiments.alignment import AlignmentJob, run_alignment
from mas.run_folder import claim_folder


@command
def align(
    models: list[Path] = typer.Argument(..., help="Model folders written by `mas train`."),
    site: str = typer.Option(
        "hidden", help="One site for all models, or one per model, comma-separated: embed or hidden (GRU), "
        "embed or layers.<i> (transformer)."),
    k: int = setting(AlignConfig, "k"),
    directions: str = typer.Option("all", help="'all' (n² directions) or e.g. '0->1,1->0'. One model and '0->0' is DAS."),
    steps: int = setting(AlignConfig, "steps", help="Maximum training steps (stops early once validation is solved)."),
    lr: float = setting(AlignConfig, "lr", help="Peak learning rate (cosine-decayed)."),
    batch_size: int = setting(AlignConfig, "batch_size"),
    mode: str = setting(AlignmentJob, "mode", help="single (one position) or stepwise (positions 0..t)."),
    variable: str = setting(AlignmentJob, "variable", help="Causal variable to align."),
    pairs: int = setting(AlignmentJob, "train_pairs", "--pairs",
                         help="Training pairs (validation and test pairs are drawn apart)."),
    test_pairs: int = setting(AlignmentJob, "test_pairs", help="Held-out pairs that IIA is scored on."),
    seed: int = setting(AlignConfig, "seed"),
    out: Optional[Path] = typer.Option(None, help="Run folder (default runs/align/<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Learn one rotation per model and report held-out IIA for every direction."""
    job = AlignmentJob(
        models=models, sites=site.split(","), directions=parse_directions(directions), variable=variable, mode=mode,
        train_pairs=pairs, test_pairs=test_pairs, align=AlignConfig(k=k, steps=steps, lr=lr, batch_size=batch_size, seed=seed),
    )
    folder = claim_folder(out or RUNS / "align" / time.strftime("%Y%m%d-%H%M%S"), "align", job, overwrite=overwrite)
    results = run_alignment(job, folder)
    print_alignment(results, folder, json_out)


def print_alignment(results: dict, folder: Path, json_out: bool) -> None:
    """The IIA matrix, the control and where the run is; under --json, the results as one line."""
    print_matrix(f"held-out IIA (trial accuracy), k={results['k']}", results["models"], results["iia_matrix"])
    out_console.print(f"random-rotation control (max over directions): {results['control_iia']:.3f}")
    out_console.print(f"steps {results['steps']}, {results['seconds']:.1f} s; results in {folder}/")
    if json_out:
        emit_json({"iia": results["iia"], "control_iia": results["control_iia"], "seconds": results["seconds"],
                   "run": str(folder)})
