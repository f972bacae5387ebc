"""`mas figure 2ab`: MAS beside CKA and RSA for GRU–GRU and GRU–transformer comparisons."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from mas.cli import (
    JSON_HELP,
    OVERWRITE_HELP,
    RUNS,
    emit_json,
    figure_command,
    int_list,
    log_line,
    note_resume,
    out_console,
)
from mas.experiments.figure_2ab import PANELS, Figure2abConfig, run_figure_2ab
from mas.run_folder import claim_folder


@figure_command("2ab")
def figure_2ab(
    models_dir: Path = typer.Option(RUNS / "models", help="Where the task models are kept (trained when missing)."),
    out: Path = typer.Option(RUNS / "figure_2ab", help="Run folder."),
    gru_seeds: str = typer.Option("0,1", help="Comma-separated GRU seeds (at least two)."),
    transformer_seeds: str = typer.Option("0,1", help="Comma-separated 2-layer transformer seeds."),
    steps: int = typer.Option(600, help="Maximum MAS steps per run."),
    train_pairs: int = typer.Option(4096, help="MAS training pairs per direction."),
    test_pairs: int = typer.Option(1000, help="Held-out pairs per direction."),
    k_hidden: int = typer.Option(32, help="Aligned subspace size at the hidden state."),
    k_embed: int = typer.Option(32, help="Aligned subspace size at the embeddings."),
    embedding_mode: str = typer.Option("stepwise", help="MAS pairs at the embeddings: stepwise or single."),
    hidden_mode: str = typer.Option("single", help="MAS pairs at the hidden state: single or stepwise."),
    repeats: int = typer.Option(10, help="Row subsamples for CKA and RSA."),
    rows: int = typer.Option(1000, help="Rows per subsample."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Figures 2a/2b: MAS IIA, linear CKA and cosine/Spearman RSA at embeddings and hidden states."""
    gru, transformer = int_list(gru_seeds, "GRU seeds"), int_list(transformer_seeds, "transformer seeds")
    cfg = Figure2abConfig(models_dir=models_dir, gru_seeds=gru, transformer_seeds=transformer, steps=steps,
                          train_pairs=train_pairs, test_pairs=test_pairs, k_hidden=k_hidden, k_embed=k_embed,
                          embedding_mode=embedding_mode, hidden_mode=hidden_mode, repeats=repeats, rows=rows, seed=seed)
    claim_folder(out, "figure 2ab", cfg, overwrite=overwrite)
    note_resume(f"finished comparisons are kept in {out}.parts/; run the same command to resume")
    start = time.perf_counter()
    results = run_figure_2ab(cfg, out, log=log_line)
    table = Table(title="Figures 2a/2b: cross (mean ± std) and self values")
    for column in ("panel", "site", "measure", "cross", "self GRU", "self transformer", "control"):
        table.add_column(column, justify="left" if column in ("panel", "site", "measure") else "right")
    for e in results["summary"]:
        cross = f"{e['cross_mean']:.3f} ± {e['cross_std']:.3f}"
        table.add_row(f"{e['panel']} {PANELS[e['panel']]}", e["site"], e["measure"], cross,
                      *("-" if e[k] is None else f"{e[k]:.3f}" for k in ("self_gru", "self_transformer", "control")))
    out_console.print(table)
    seconds = round(time.perf_counter() - start, 1)
    out_console.print(f"{seconds:.0f} s; figure, table.csv and results.json in {out}/")
    if json_out:
        emit_json({"summary": results["summary"], "seconds": seconds, "run": str(out),
                   "png": str(out / "figure_2ab.png"), "table": str(out / "table.csv")})
