"""`mas similarity`: correlational similarity (CKA, RSA, ...) between two task models or two activation files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mas.commands._shared import JSON_HELP, command, emit_json, out_console
from mas.errors import MasError
from mas.experiments.activations import (
    REPEATS,
    ROWS,
    SEQUENCES_PER_COUNT,
    model_activations,
    repeated_similarity,
    summarize,
)
from mas.similarity import MEASURES
from mas.similarity.files import paired_activations


def parse_measures(text: str) -> list[str]:
    """"all" or a comma list of names from `MEASURES`."""
    names = list(MEASURES) if text == "all" else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MEASURES]
    if unknown or not names:
        named = ", ".join(unknown) or repr(text)
        raise MasError(f"unknown similarity measure(s) {named}; known: all, {', '.join(MEASURES)}")
    return names


@command
def similarity(
    model_a: Path = typer.Argument(..., help="Model folder written by `mas train` (a file with --activations)."),
    model_b: Path = typer.Argument(..., help="Second model folder (its width and site may differ), or file."),
    activations: bool = typer.Option(
        False, "--activations", help="A and B are .npy or .safetensors matrices (rows × units) with rows paired."
    ),
    site: str = typer.Option("hidden", help="One site for both models, or one per model, e.g. 'hidden,layers.0'."),
    measures: str = typer.Option("all", help="'all' or a comma list, e.g. 'cka_linear,rsa_cosine_spearman'. RSA's euclidean RDM is the plain "
    "distance, sqeuclidean the squared one (rsatoolbox's 'euclidean')."),
    repeats: int = typer.Option(REPEATS, help="Row subsamples to average over."),
    rows: int = typer.Option(ROWS, help="Rows per subsample, the same rows for both models."),
    per_count: int = typer.Option(SEQUENCES_PER_COUNT, help="Sequences per count of the task."),
    zscore: bool = typer.Option(False, help="z-score every unit before comparing."),
    seed: int = typer.Option(0),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Score two models' activations at a site under CKA/RSA measures: mean ± std over repeats.

    With --activations, two saved matrices are compared instead; when they have no more rows than
    --rows, all rows are scored once.
    """
    names = parse_measures(measures)
    if activations:
        x, y = paired_activations(model_a, model_b)
        sites = ["file", "file"]
        if rows >= x.shape[0]:
            rows, repeats = x.shape[0], 1
    else:
        sites = site.split(",")
        if len(sites) == 1:
            sites *= 2
        if len(sites) != 2:
            raise MasError(f"give one site or two (one per model), got {site!r}")
        x, y = model_activations([model_a, model_b], sites, per_count, seed)
    summary = summarize(repeated_similarity(x, y, names, rows, repeats, seed, zscore))
    pair = f"{model_a.name} ({sites[0]}) vs {model_b.name} ({sites[1]})"
    table = Table(title=f"{pair}: {repeats} × {rows} rows of {x.shape[0]}")
    table.add_column("measure")
    table.add_column("mean ± std", justify="right")
    for name, stats in summary.items():
        table.add_row(name, f"{stats['mean']:.4f} ± {stats['std']:.4f}")
    out_console.print(table)
    if json_out:
        emit_json({"models": [str(model_a), str(model_b)], "sites": sites, "rows": rows, "repeats": repeats,
                   "available_rows": x.shape[0], "seed": seed, "zscore": zscore, "measures": summary})
