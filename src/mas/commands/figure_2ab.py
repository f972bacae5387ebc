"""`mas figure 2ab`: MAS beside CKA and RSA for GRU–GRU and GRU–transformer comparisons."""

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
    setting,
)
from mas.experiments.figure_2ab import PANEL_LABELS, PANELS, Figure2abConfig, run_figure_2ab
from mas.experiments.outputs import OUTPUTS
from mas.run_folder import check_models_dir, claim_folder
from mas.runner import open_runner


@figure_command("2ab")
def figure_2ab(
    models_dir: Path = setting(Figure2abConfig, "models_dir", help="Where the task models are kept (trained when missing)."),
    out: Path = typer.Option(RUNS / OUTPUTS["2ab"].folder, help="Run folder."),
    gru_seeds: str = setting(Figure2abConfig, "gru_seeds", help="Comma-separated GRU seeds (at least two)."),
    transformer_seeds: str = setting(Figure2abConfig, "transformer_seeds", help="Comma-separated 2-layer transformer seeds."),
    seeds: str = setting(Figure2abConfig, "seeds", help="Comma-separated MAS alignment seeds: one MAS run per comparison and seed."),
    steps: int = setting(Figure2abConfig, "steps", help="Maximum MAS steps per run."),
    train_pairs: int = setting(Figure2abConfig, "train_pairs", help="MAS training pairs per direction."),
    test_pairs: int = setting(Figure2abConfig, "test_pairs", help="Held-out pairs per direction."),
    k_hidden: int = setting(Figure2abConfig, "k_hidden", help="Aligned subspace size at the hidden state."),
    k_embed: int = setting(Figure2abConfig, "k_embed", help="Aligned subspace size at the embeddings."),
    embedding_mode: str = setting(Figure2abConfig, "embedding_mode", help="MAS pairs at the embeddings: stepwise or single."),
    hidden_mode: str = setting(Figure2abConfig, "hidden_mode", help="MAS pairs at the hidden state: single or stepwise."),
    b2_site: str = setting(Figure2abConfig, "b2_site", help="Panel b′: the transformer site compared with the GRU's hidden "
                           "state (where DAS within the transformer works; see `mas site-study`); empty: no panel b′."),
    b2_mode: str = setting(Figure2abConfig, "b2_mode", help="Panel b′: MAS pairs, single or stepwise."),
    b2_k: int = setting(Figure2abConfig, "b2_k", help="Panel b′: aligned subspace size."),
    repeats: int = setting(Figure2abConfig, "repeats", help="Row subsamples for CKA and RSA."),
    rows: int = setting(Figure2abConfig, "rows", help="Rows per subsample."),
    seed: int = setting(Figure2abConfig, "seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: int | None = WORKERS,
    ray_address: str | None = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Figures 2a/2b: MAS IIA, linear CKA and cosine/Spearman RSA at embeddings and hidden states."""
    gru, transformer = int_list(gru_seeds, "GRU seeds"), int_list(transformer_seeds, "transformer seeds")
    cfg = Figure2abConfig(models_dir=models_dir, gru_seeds=gru, transformer_seeds=transformer,
                          seeds=int_list(seeds, "--seeds"), steps=steps, train_pairs=train_pairs, test_pairs=test_pairs,
                          k_hidden=k_hidden, k_embed=k_embed, embedding_mode=embedding_mode, hidden_mode=hidden_mode,
                          b2_site=b2_site.strip() or None, b2_mode=b2_mode, b2_k=b2_k, repeats=repeats, rows=rows,
                          seed=seed)
    check_models_dir(models_dir)
    claim_folder(out, OUTPUTS["2ab"].marker, cfg, overwrite=overwrite)
    note_resume(f"finished comparisons are kept in {out}.parts/; run the same command to resume")
    start = time.perf_counter()
    with open_runner(workers, ray_address) as runner:
        results = run_figure_2ab(cfg, out, log=log_line, runner=runner)
    table = Table(title="Figures 2a/2b: mean [95 % bootstrap interval] over runs")
    for column in ("panel", "site", "measure", "cross", "self GRU", "self transformer", "control"):
        table.add_column(column, justify="left" if column in ("panel", "site", "measure") else "right")
    for e in results["summary"]:
        table.add_row(f"{PANEL_LABELS[e['panel']]} {PANELS[e['panel']]}", f"{e['site']} ({e['site_a']}/{e['site_b']})",
                      e["measure"], *(interval_text(e[k]) for k in ("cross", "self_gru", "self_transformer", "control")))
    out_console.print(table)
    seconds = round(time.perf_counter() - start, 1)
    files = OUTPUTS["2ab"]
    out_console.print(f"{seconds:.0f} s; figure, {files.csv} and {files.results} in {out}/")
    if json_out:
        emit_json({"summary": results["summary"], "seconds": seconds, "run": str(out),
                   "png": str(out / files.png), "table": str(out / files.csv)})
