"""`mas figure 3b`: cross-task transfer of the Multi-Object GRUs' state, MAS beside DAS, over model pairs and seeds.

Settings left out come from `--protocol` (the presets live in the experiment, once).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mas.commands._shared import (
    BY_PROTOCOL,
    JSON_HELP,
    OVERWRITE_HELP,
    PROTOCOL_HELP,
    RAY_ADDRESS,
    RUNS,
    WORKERS,
    emit_json,
    figure_command,
    int_list,
    interval_text,
    log_line,
    note_resume,
    optional_list,
    out_console,
    setting,
    str_list,
)
from mas.experiments.figure_3b import BARS, SAME_OBJECT_VARIABLE, Figure3bConfig, parse_variables, run_figure_3b
from mas.experiments.outputs import OUTPUTS
from mas.run_folder import check_models_dir, claim_folder
from mas.runner import open_runner


@figure_command("3b")
def figure_3b(
    protocol: str = setting(Figure3bConfig, "protocol", help=PROTOCOL_HELP),
    models_dir: Path = typer.Option(RUNS / "models", help="Where the GRUs are kept (trained when missing)."),
    out: Path = typer.Option(RUNS / OUTPUTS["3b"].folder, help="Run folder."),
    families: Optional[str] = typer.Option(None, help="Comma-separated task families" + BY_PROTOCOL),
    swap: Optional[str] = typer.Option(
        None, help="whole: every family's whole state (count and phase; Arithmetic rem_ops); size: the count alone"
        + BY_PROTOCOL),
    variables: str = typer.Option(
        "", help="Comma-separated FAMILY=[MODEL.]VARIABLE[+VARIABLE]: variables a family's models are aligned on "
        "instead of those --swap picks.",
    ),
    supplementary: str = typer.Option(
        SAME_OBJECT_VARIABLE, help="Extra bars, FAMILY=[MODEL.]VARIABLE items: a family aligned on another variable, "
        "drawn hatched and not judged (empty: none).",
    ),
    model_seeds: Optional[str] = typer.Option(
        None, help="GRU seeds of every family; pair i aligns reference GRU i with the family's GRU i (at least 2 "
        "under --protocol paper)" + BY_PROTOCOL),
    seeds: Optional[str] = setting(Figure3bConfig, "seeds", protocol=True),
    k: Optional[int] = typer.Option(None, help="Size of the swapped aligned subspace" + BY_PROTOCOL),
    steps: Optional[int] = setting(Figure3bConfig, "steps", protocol=True),
    eval_every: Optional[int] = typer.Option(None, help="Steps between validation checks" + BY_PROTOCOL),
    patience: Optional[int] = typer.Option(None, help="Validation checks without improvement before a run stops" + BY_PROTOCOL),
    lr: Optional[float] = setting(Figure3bConfig, "lr", help="Learning rate", protocol=True),
    batch_size: Optional[int] = setting(Figure3bConfig, "batch_size", protocol=True),
    train_pairs: Optional[int] = typer.Option(None, help="Training pairs per direction" + BY_PROTOCOL),
    validation_pairs: Optional[int] = typer.Option(None, help="Validation pairs per direction" + BY_PROTOCOL),
    test_pairs: Optional[int] = typer.Option(None, help="Held-out pairs per direction" + BY_PROTOCOL),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """MAS between Multi-Object GRUs and each family's GRUs (four directions), and DAS per model."""
    cfg = Figure3bConfig(
        protocol=protocol, models_dir=models_dir, families=optional_list(families, str_list, "families"), swap=swap,
        variables=parse_variables(variables), supplementary=parse_variables(supplementary),
        model_seeds=optional_list(model_seeds, int_list, "model seeds"), seeds=optional_list(seeds, int_list, "seeds"),
        k=k, steps=steps, eval_every=eval_every, patience=patience, lr=lr, batch_size=batch_size,
        train_pairs=train_pairs, validation_pairs=validation_pairs, test_pairs=test_pairs,
    )
    cfg.check()
    check_models_dir(models_dir)
    claim_folder(out, OUTPUTS["3b"].marker, cfg, overwrite=overwrite)
    note_resume(f"finished alignments are kept in {out}.parts/; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        results = run_figure_3b(cfg, out, log=log_line, runner=runner)
    table = Table(title=f"Figure 3b ({cfg.protocol} protocol): held-out IIA, k={cfg.k}, mean [95 % interval] over "
                        "model pairs × seeds")
    table.add_column("family (variable)")
    for bar in (*BARS, "das_minus_transfer"):
        table.add_column(bar, justify="right")
    for row in results["bars"]:
        name = f"{row['family']} ({row['variable']}){' supplementary' if row['supplementary'] else ''}"
        table.add_row(name, *(interval_text(row[b]) for b in (*BARS, "das_minus_transfer")))
    out_console.print(table)
    seconds = round(time.perf_counter() - start, 1)
    reference = interval_text(results["das_reference"])
    out_console.print(f"DAS of the reference: {reference}; {seconds:.0f} s; results in {out}/")
    if json_out:
        emit_json({"rows": results["rows"], "bars": results["bars"], "das_reference": results["das_reference"],
                   "protocol": cfg.protocol, "seconds": seconds, "run": str(out)})
