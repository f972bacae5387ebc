"""`mas figure 3a`: CLMAS vs latent and behavioural stitching when one model is inaccessible."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.cli import (
    JSON_HELP,
    OVERWRITE_HELP,
    RAY_ADDRESS,
    RUNS,
    WORKERS,
    emit_json,
    figure_command,
    float_list,
    int_list,
    interval_text,
    note_resume,
    out_console,
)
from mas.experiments.sweep import claim_sweep_figure


@figure_command("3a")
def figure_3a(
    models_dir: Path = typer.Option(RUNS / "models", help="Where the two Multi-Object GRUs are kept (trained when missing)."),
    inaccessible: int = typer.Option(1, help="Index (0 or 1) of the model behaviour is never trained into."),
    k: int = typer.Option(32, help="Subspace size of CLMAS and of the MAS upper bound."),
    rank: int = typer.Option(128, help="Rank of both stitches (128, the width, is full rank)."),
    epsilon: Optional[float] = typer.Option(
        None, help="Weight ε of CLMAS's counterfactual-latent loss; given, no ε grid is run.",
    ),
    epsilon_grid: str = typer.Option(
        "0.1,1,10", help="ε tried when --epsilon is not given; the best mean validation Access IIA is kept.",
    ),
    seeds: str = typer.Option("0,1,2", help="Alignment seeds; each bar is their mean with a 95 % bootstrap interval."),
    steps: int = typer.Option(250, help="Training steps per method."),
    lr: float = typer.Option(5e-3),
    batch_size: int = typer.Option(64, help="Pairs per direction per step."),
    whole_state: bool = typer.Option(
        False, "--whole-state/--all-pairs",
        help="Only pairs whose counterfactual state is all the source's (a stitch can be exact), or all count pairs.",
    ),
    out: Path = typer.Option(RUNS / "figure-3a", help="Run folder (written whole at the end)."),
    table: Optional[Path] = typer.Option(None, help="Sweep table to resume from (default OUT.rows.jsonl beside OUT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """CLMAS, latent and behavioural stitching in Access and No Access, MAS as the bound: PNG, CSV, JSON."""
    from mas.experiments.figure_3a import Figure3a, run_figure_3a
    from mas.runner import open_runner

    config = Figure3a(models_dir=models_dir, inaccessible=inaccessible, k=k, rank=rank, cl_weight=epsilon,
                      epsilon_grid=float_list(epsilon_grid, "the ε grid"), seeds=int_list(seeds, "seeds"), steps=steps,
                      lr=lr, batch_size=batch_size, whole_state=whole_state)
    table = claim_sweep_figure(out, table, "figure_3a", config, overwrite)
    note_resume(f"finished trainings are kept in {table}; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        summary = run_figure_3a(config, out, table, runner=runner)
    epsilons = summary["epsilon"]
    out_console.print(f"ε grid, IIA on {epsilons['scored_on']}, mean [95 % interval]:")
    for g in epsilons["grid"]:
        mark = "  <- chosen" if g["epsilon"] == epsilons["chosen"] else ""
        out_console.print(f"  ε {g['epsilon']:>8g}: IIA {interval_text(g)}{mark}")
    out_console.print("held-out IIA, mean over seeds [95 % interval]:")
    for b in summary["bars"]:
        out_console.print(f"{b['method']:>18} {b['side']:>9}: IIA {interval_text(b)}")
    out_console.print(f"figure in {out}/figure_3a.png")
    if json_out:
        emit_json({"run": str(out), "epsilon": epsilons, "bars": summary["bars"],
                   "seconds": round(time.perf_counter() - start, 2)})
