"""`mas figure 3a`: CLMAS vs latent and behavioural stitching when one model is inaccessible.

Settings left out come from `--protocol` (the presets live in the experiment, once).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.commands._shared import (
    JSON_HELP,
    OVERWRITE_HELP,
    PROTOCOL_HELP,
    RAY_ADDRESS,
    RUNS,
    VARIABLES_HELP,
    WHOLE_STATE_HELP,
    WORKERS,
    emit_json,
    figure_command,
    float_list,
    int_list,
    interval_text,
    note_resume,
    optional_list,
    out_console,
    setting,
    str_list,
)
from mas.experiments.figure_3a import Figure3a, run_figure_3a
from mas.experiments.outputs import OUTPUTS
from mas.experiments.sweep import claim_sweep_figure


@figure_command("3a")
def figure_3a(
    protocol: str = setting(Figure3a, "protocol", help=PROTOCOL_HELP),
    models_dir: Path = setting(Figure3a, "models_dir", help="Where the Multi-Object GRUs are kept (trained when missing)."),
    model_seeds: Optional[str] = setting(Figure3a, "model_seeds", protocol=True),
    inaccessible: int = setting(Figure3a, "inaccessible"),
    ks: Optional[str] = setting(Figure3a, "ks", protocol=True),
    rank: int = setting(Figure3a, "rank"),
    epsilon: Optional[float] = setting(
        Figure3a, "cl_weight", "--epsilon", help="Weight ε of CLMAS's counterfactual-latent loss; given, no ε grid is run.",
    ),
    epsilon_grid: Optional[str] = setting(
        Figure3a, "epsilon_grid", help="ε tried when --epsilon is not given; the best mean validation No Access IIA is "
        "kept, and the grid grows past an edge the choice lands on", protocol=True,
    ),
    seeds: Optional[str] = setting(Figure3a, "seeds", protocol=True),
    steps: Optional[int] = setting(Figure3a, "steps", protocol=True),
    lr: Optional[float] = setting(Figure3a, "lr", protocol=True),
    batch_size: Optional[int] = setting(Figure3a, "batch_size", protocol=True),
    variables: Optional[str] = setting(Figure3a, "variables", help=VARIABLES_HELP, protocol=True),
    whole_state: Optional[bool] = setting(Figure3a, "whole_state", "--whole-state/--all-pairs", help=WHOLE_STATE_HELP,
                                          protocol=True),
    out: Path = typer.Option(RUNS / OUTPUTS["3a"].folder, help="Run folder (written whole at the end)."),
    table: Optional[Path] = typer.Option(None, help="Sweep table to resume from (default OUT.rows.jsonl beside OUT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """CLMAS, latent and behavioural stitching in Access and No Access, MAS as the bound: PNG, CSV, JSON."""
    from mas.runner import open_runner

    config = Figure3a(
        protocol=protocol, models_dir=models_dir, model_seeds=optional_list(model_seeds, int_list, "model seeds"),
        inaccessible=inaccessible, ks=optional_list(ks, int_list, "ks"), rank=rank, cl_weight=epsilon,
        epsilon_grid=optional_list(epsilon_grid, float_list, "the ε grid"), seeds=optional_list(seeds, int_list, "seeds"),
        steps=steps, lr=lr, batch_size=batch_size, variables=optional_list(variables, str_list, "variables"),
        whole_state=whole_state,
    )
    table = claim_sweep_figure(out, table, OUTPUTS["3a"], config, overwrite)
    note_resume(f"finished trainings are kept in {table}; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        summary = run_figure_3a(config, out, table, runner=runner)
    out_console.print(f"protocol {config.protocol}")
    for name, choice in summary["choices"].items():
        out_console.print(f"{name}: chosen on {choice['scored_on']}: ε {choice['epsilon']}, k {choice['k']}")
        for g in choice["grid"]:
            mark = "  <- chosen" if (g["epsilon"], g["k"]) == (choice["epsilon"], choice["k"]) else ""
            out_console.print(f"  ε {g['epsilon']!s:>8} k {g['k']:>4}: IIA {interval_text(g)}{mark}")
    if summary["epsilon_on_edge"]:
        out_console.print(f"the chosen ε is still on an edge of the grid after {summary['grid_extensions']} extensions")
    out_console.print("held-out IIA, mean over runs [95 % interval]:")
    for b in summary["bars"]:
        out_console.print(f"{b['method']:>26} {b['side']:>9}: IIA {interval_text(b)} ({b['at_ceiling']} at the ceiling)")
    out_console.print(f"figure in {out / OUTPUTS['3a'].png}")
    if json_out:
        emit_json({"run": str(out), "protocol": config.protocol, "choices": summary["choices"], "bars": summary["bars"],
                   "seconds": round(time.perf_counter() - start, 2)})
