"""`mas same-object-study`: DAS for each candidate causal variable of a Same-Object model, at several k."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mas.commands._shared import (
    JSON_HELP,
    OVERWRITE_HELP,
    RUNS,
    command,
    emit_json,
    int_list,
    log_line,
    name_list,
    out_console,
    setting,
)
from mas.experiments.same_object_study import StudyConfig, run_study
from mas.run_folder import claim_folder

COLUMN_TITLES = ("candidate", "k", "validation IIA", "test IIA", "steps")


@command
def same_object_study(
    model: Path = typer.Argument(..., help="A Same-Object model folder written by `mas train`."),
    candidates: str = setting(StudyConfig, "candidates", help="Comma-separated candidate variables."),
    ks: str = setting(StudyConfig, "ks", help="Comma-separated subspace sizes."),
    steps: int = setting(StudyConfig, "steps", help="Maximum DAS steps per candidate and k."),
    batch_size: int = setting(StudyConfig, "batch_size", help="Pairs per step."),
    train_pairs: int = setting(StudyConfig, "train_pairs"),
    validation_pairs: int = setting(StudyConfig, "validation_pairs", help="Pairs that pick the best step and the best variable."),
    test_pairs: int = setting(StudyConfig, "test_pairs", help="Held-out pairs, scored once at the end."),
    seed: int = setting(StudyConfig, "seed"),
    out: Path = typer.Option(RUNS / "same_object_study", help="Run folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Which variable does the model carry? Held-out DAS IIA per candidate and k; the best on validation is named."""
    cfg = StudyConfig(model=model, candidates=name_list(candidates),
                      ks=int_list(ks, "--ks"), steps=steps, batch_size=batch_size, train_pairs=train_pairs,
                      validation_pairs=validation_pairs, test_pairs=test_pairs, seed=seed)
    claim_folder(out, "same-object study", cfg, overwrite=overwrite)
    results = run_study(cfg, out, log=log_line)
    table = Table(title=f"DAS per candidate variable, {model.name}")
    for column in COLUMN_TITLES:
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for r in results["rows"]:
        table.add_row(r["candidate"], str(r["k"]), f"{r['validation_iia']:.3f}", f"{r['test_iia']:.3f}", str(r["steps"]))
    out_console.print(table)
    chosen = results["chosen"]
    out_console.print(f"best on validation: {chosen['candidate']} (k={chosen['k']}), test IIA {chosen['test_iia']:.3f}; "
                      f"{results['seconds']:.0f} s; table in {out}/", highlight=False)
    if json_out:
        emit_json({"rows": results["rows"], "chosen": chosen, "out": str(out)})

