"""`mas figure 3b`: cross-task transfer of the count variable, MAS beside DAS, over alignment seeds."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from mas.commands._shared import (
    JSON_HELP,
    OVERWRITE_HELP,
    RAY_ADDRESS,
    RUNS,
    WORKERS,
    emit_json,
    figure_command,
    int_list,
    interval_text,
    log_line,
    note_resume,
    out_console,
)
from mas.experiments.figure_3b import (
    BARS,
    FAMILIES,
    SAME_OBJECT_VARIABLE,
    Figure3bConfig,
    parse_variables,
    run_figure_3b,
)
from mas.run_folder import check_models_dir, claim_folder
from mas.runner import open_runner


@figure_command("3b")
def figure_3b(
    models_dir: Path = typer.Option(RUNS / "models", help="Where the GRUs are kept (trained when missing)."),
    out: Path = typer.Option(RUNS / "figure_3b", help="Run folder."),
    families: str = typer.Option(",".join(FAMILIES), help="Comma-separated task families."),
    variables: str = typer.Option(
        SAME_OBJECT_VARIABLE, help="Comma-separated FAMILY=[MODEL.]VARIABLE: the variable a family's models are aligned "
        "on, of one of its task's causal models (families not named: the task's first variable).",
    ),
    seeds: str = typer.Option("0,1,2", help="Comma-separated alignment seeds; each bar is their mean."),
    reference_seed: int = typer.Option(0, help="Seed of the Multi-Object GRU whose count is transferred."),
    family_seed: int = typer.Option(0, help="Seed of each family's GRU (Multi-Object: reference seed + 1)."),
    k: int = typer.Option(32, help="Size of the swapped aligned subspace."),
    steps: int = typer.Option(500, help="Maximum MAS/DAS steps per run."),
    lr: float = typer.Option(3e-3),
    batch_size: int = typer.Option(128, help="Pairs per direction per step."),
    train_pairs: int = typer.Option(2048, help="Training pairs per direction."),
    validation_pairs: int = typer.Option(256, help="Validation pairs per direction (early stopping)."),
    test_pairs: int = typer.Option(500, help="Held-out pairs per direction."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: int | None = WORKERS,
    ray_address: str | None = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """MAS between the Multi-Object GRU and each family's GRU (four directions), and DAS per model."""
    cfg = Figure3bConfig(
        models_dir=models_dir, families=[f.strip() for f in families.split(",")], variables=parse_variables(variables),
        seeds=int_list(seeds, "--seeds"), reference_seed=reference_seed,
        family_seed=family_seed, k=k, steps=steps, lr=lr, batch_size=batch_size, train_pairs=train_pairs,
        validation_pairs=validation_pairs, test_pairs=test_pairs,
    )
    cfg.check()
    check_models_dir(models_dir)
    claim_folder(out, "figure 3b", cfg, overwrite=overwrite)
    note_resume(f"finished alignments are kept in {out}.parts/; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        results = run_figure_3b(cfg, out, log=log_line, runner=runner)
    table = Table(title=f"Figure 3b: held-out IIA, k={k}, mean [95 % interval] over {len(cfg.seeds)} seed(s)")
    table.add_column("family (variable)")
    for bar in BARS:
        table.add_column(bar, justify="right")
    for row in results["bars"]:
        table.add_row(f"{row['family']} ({row['variable']})", *(interval_text(row[b]) for b in BARS))
    out_console.print(table)
    seconds = round(time.perf_counter() - start, 1)
    reference = interval_text(results["das_reference"])
    out_console.print(f"DAS of the reference: {reference}; {seconds:.0f} s; results in {out}/")
    if json_out:
        emit_json({"rows": results["rows"], "bars": results["bars"], "das_reference": results["das_reference"],
                   "seconds": seconds, "run": str(out)})
