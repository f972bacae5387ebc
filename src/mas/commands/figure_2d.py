"""`mas figure 2d`: IIA vs k for DAS and MAS, and vs rank r for stitching."""

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
    int_list,
    interval_text,
    note_resume,
    out_console,
)
from mas.experiments.sweep import claim_sweep_figure


@figure_command("2d")
def figure_2d(
    models_dir: Path = typer.Option(RUNS / "models", help="Where the two Multi-Object GRUs are kept (trained when missing)."),
    ks: str = typer.Option("1,4,16,64", help="Subspace sizes k for DAS and MAS."),
    ranks: str = typer.Option("1,4,16,128", help="Stitch ranks r (128, the width, is full rank)."),
    seeds: str = typer.Option("0,1,2", help="Alignment seeds; each point is their mean with a 95 % bootstrap interval."),
    steps: int = typer.Option(600, help="Step ceiling per job; a job stops earlier when validation stops improving."),
    eval_every: int = typer.Option(25, help="Steps between validation checks."),
    patience: int = typer.Option(4, help="Validation checks without improvement before a job stops."),
    lr: float = typer.Option(5e-3),
    batch_size: int = typer.Option(64, help="Pairs per direction per step."),
    whole_state: bool = typer.Option(
        True, "--whole-state/--all-pairs",
        help="Only pairs whose counterfactual state is all the source's (a stitch can be exact), or all count pairs.",
    ),
    out: Path = typer.Option(RUNS / "figure-2d", help="Run folder (written whole at the end)."),
    table: Optional[Path] = typer.Option(None, help="Sweep table to resume from (default OUT.rows.jsonl beside OUT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """DAS and MAS over k, stitching over r, GRU vs GRU on Multi-Object: a PNG, CSV and JSON."""
    from mas.experiments.figure_2d import Figure2d, run_figure_2d
    from mas.runner import open_runner

    config = Figure2d(models_dir=models_dir, ks=int_list(ks, "ks"), ranks=int_list(ranks, "ranks"),
                      seeds=int_list(seeds, "seeds"), steps=steps, eval_every=eval_every, patience=patience, lr=lr,
                      batch_size=batch_size, whole_state=whole_state)
    table = claim_sweep_figure(out, table, "figure_2d", config, overwrite)
    note_resume(f"finished points are kept in {table}; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        summary = run_figure_2d(config, out, table, runner=runner)
    for p in summary["points"]:
        out_console.print(f"{p['method']:>7} size {p['size']:>4}: IIA {interval_text(p)} "
                          f"({p['scored']}, {p['n']} seeds, steps {p['steps']})")
    for gap in summary["das_minus_mas"]:
        out_console.print(f"DAS − MAS at k = {gap['k']}: {interval_text(gap)}")
    out_console.print(f"stitching reaches its plateau from rank {summary['stitch_plateau_rank']}")
    out_console.print(f"figure in {out}/figure_2d.png")
    if json_out:
        emit_json({"run": str(out), "points": summary["points"], "seconds": round(time.perf_counter() - start, 2)})
