"""`mas figure 2d`: IIA vs k for DAS and MAS, and vs rank r for stitching.

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
    int_list,
    interval_text,
    note_resume,
    optional_list,
    out_console,
    setting,
    str_list,
)
from mas.experiments.figure_2d import Figure2d, run_figure_2d
from mas.experiments.outputs import OUTPUTS
from mas.experiments.sweep import claim_sweep_figure


@figure_command("2d")
def figure_2d(
    protocol: str = setting(Figure2d, "protocol", help=PROTOCOL_HELP),
    models_dir: Path = setting(Figure2d, "models_dir", help="Where the Multi-Object GRUs are kept (trained when missing)."),
    model_seeds: Optional[str] = setting(Figure2d, "model_seeds", protocol=True),
    ks: Optional[str] = setting(Figure2d, "ks", protocol=True),
    ranks: Optional[str] = setting(Figure2d, "ranks", protocol=True),
    methods: Optional[str] = setting(
        Figure2d, "methods", help="Curves to train: das, mas, stitch (orthogonal), affine_stitch (the labelled extra)",
        protocol=True),
    seeds: Optional[str] = setting(Figure2d, "seeds", protocol=True),
    steps: Optional[int] = setting(Figure2d, "steps", protocol=True),
    eval_every: Optional[int] = setting(Figure2d, "eval_every", protocol=True),
    patience: Optional[int] = setting(Figure2d, "patience", protocol=True),
    lr: Optional[float] = setting(Figure2d, "lr", protocol=True),
    batch_size: Optional[int] = setting(Figure2d, "batch_size", protocol=True),
    variables: Optional[str] = setting(Figure2d, "variables", help=VARIABLES_HELP, protocol=True),
    whole_state: Optional[bool] = setting(Figure2d, "whole_state", "--whole-state/--all-pairs", help=WHOLE_STATE_HELP,
                                          protocol=True),
    out: Path = typer.Option(RUNS / OUTPUTS["2d"].folder, help="Run folder (written whole at the end)."),
    table: Optional[Path] = typer.Option(None, help="Sweep table to resume from (default OUT.rows.jsonl beside OUT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """DAS and MAS over k, stitching over r, GRU vs GRU on Multi-Object: a PNG, CSV and JSON."""
    from mas.runner import open_runner

    config = Figure2d(
        protocol=protocol, models_dir=models_dir, model_seeds=optional_list(model_seeds, int_list, "model seeds"),
        ks=optional_list(ks, int_list, "ks"), ranks=optional_list(ranks, int_list, "ranks"),
        methods=optional_list(methods, str_list, "methods"),
        seeds=optional_list(seeds, int_list, "seeds"), steps=steps, eval_every=eval_every, patience=patience, lr=lr,
        batch_size=batch_size, variables=optional_list(variables, str_list, "variables"), whole_state=whole_state,
    )
    table = claim_sweep_figure(out, table, OUTPUTS["2d"], config, overwrite)
    note_resume(f"finished points are kept in {table}; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        summary = run_figure_2d(config, out, table, runner=runner)
    out_console.print(f"protocol {config.protocol}")
    for p in summary["points"]:
        out_console.print(f"{p['method']:>13} size {p['size']:>4}: IIA {interval_text(p)} "
                          f"({p['scored']}, {p['n']} runs, steps {p['steps']}, {p['at_ceiling']} at the ceiling)")
    for gap in summary["das_minus_mas"]:
        out_console.print(f"DAS − MAS at k = {gap['k']}: {interval_text(gap)}")
    out_console.print(f"the orthogonal stitch reaches its plateau from rank {summary['stitch_plateau_rank']}")
    out_console.print(f"figure in {out / OUTPUTS['2d'].png}")
    if json_out:
        emit_json({"run": str(out), "protocol": config.protocol, "points": summary["points"],
                   "seconds": round(time.perf_counter() - start, 2)})

