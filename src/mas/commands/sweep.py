"""`mas sweep`: DAS, MAS and stitching (or the inaccessible-model methods) over a grid, resumable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.commands._shared import (
    JSON_HELP,
    RAY_ADDRESS,
    RUNS,
    WORKERS,
    command,
    emit_json,
    int_list,
    note_resume,
    out_console,
    setting,
)
from mas.experiments.sweep import SweepSpec, check_table, headline, run_sweep


@command
def sweep(
    models: list[Path] = typer.Argument(..., help="Two model folders written by `mas train`."),
    methods: str = setting(SweepSpec, "methods",
                           help="Comma list of das, mas, stitch, clmas, latent_stitch, behavioural_stitch."),
    ks: str = setting(SweepSpec, "ks"),
    ranks: str = setting(SweepSpec, "ranks"),
    seeds: str = setting(SweepSpec, "seeds"),
    steps: int = setting(SweepSpec, "steps"),
    lr: float = setting(SweepSpec, "lr", help="Peak learning rate (cosine-decayed)."),
    batch_size: int = setting(SweepSpec, "batch_size"),
    site: str = setting(SweepSpec, "site"),
    inaccessible: int = setting(SweepSpec, "inaccessible",
                                help="Model never trained behaviourally into (clmas and the stitches)."),
    epsilon: float = setting(SweepSpec, "cl_weight", "--epsilon"),
    table: Optional[Path] = typer.Option(None, help="JSONL table (default runs/sweeps/<time>.jsonl); reuse it to resume."),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run every (method, size, seed) job not yet in TABLE, appending one row per finished job."""
    from mas.runner import open_runner

    spec = SweepSpec(
        models=models, methods=[m.strip() for m in methods.split(",")], ks=int_list(ks, "ks"),
        ranks=int_list(ranks, "ranks"), seeds=int_list(seeds, "seeds"), steps=steps, lr=lr, batch_size=batch_size,
        site=site, inaccessible=inaccessible, cl_weight=epsilon,
    )
    path = check_table(table or RUNS / "sweeps" / f"{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    note_resume(f"finished jobs are kept in {path}; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        rows = run_sweep(spec, path, runner=runner)
    for row in rows:
        out_console.print(f"{row['method']:>18} size {row['size']:>4} seed {row['seed']}: {headline(row)}")
    out_console.print(f"{len(rows)} rows in {path}")
    if json_out:
        emit_json({"table": str(path), "rows": len(rows), "seconds": round(time.perf_counter() - start, 2)})
