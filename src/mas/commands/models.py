"""`mas models`: which task models are trained, and how well they solve their held-out counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import typer
from rich.table import Table

from mas.commands._shared import JSON_HELP, RUNS, command, emit_json, log_line, out_console
from mas.errors import MasError
from mas.models.checkpoint import load_checkpoint
from mas.models.training import heldout_policy


def list_models(models_dir: Path, warn: Callable[[str], None] = log_line) -> list[dict]:
    """One row per model folder under `models_dir`; folders without a config.json are skipped, and
    corrupt ones, or ones whose weights hold NaN or inf (a diverged training), are skipped with a
    warning (commands that need them refuse them)."""
    if not models_dir.is_dir():
        raise MasError(f"no models folder {models_dir}")
    rows = []
    for folder in sorted(p for p in models_dir.iterdir() if (p / "config.json").is_file()):
        try:
            model, cfg = load_checkpoint(folder)
        except MasError as err:
            warn(f"warning: skipped {folder.name}: {err}")
            continue
        if not all(bool(torch.isfinite(p).all()) for p in model.state_dict().values()):
            warn(f"warning: skipped {folder.name}: its weights hold NaN or inf (a diverged training)")
            continue
        rows.append({"folder": folder.name, "task": cfg.task, "arch": cfg.arch, "seed": cfg.seed,
                     "steps": cfg.steps, "policy": heldout_policy(cfg.heldout_counts),
                     "heldout_accuracy": cfg.heldout_accuracy,
                     "heldout_by_size": cfg.heldout_by_size})
    return rows


@command
def models(
    models_dir: Path = typer.Option(RUNS / "models", help="Where `mas train` keeps its models."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List the trained task models: task, architecture, seed, steps, held-out policy and accuracy (per size too).

    Multi-Object and Same-Object models are tested on demo sizes they never saw; Rounding, Modulo and
    Arithmetic models train on every size and are tested on fresh sequences.
    """
    rows = list_models(models_dir)
    table = Table(title=f"task models in {models_dir}")
    left = ("folder", "task", "arch", "held-out policy", "by held-out size")
    for column in ("folder", "task", "arch", "seed", "steps", "held-out policy", "held-out acc", "by held-out size"):
        table.add_column(column, justify="left" if column in left else "right")
    for r in rows:
        accuracy = "-" if r["heldout_accuracy"] is None else f"{r['heldout_accuracy']:.3f}"
        sizes = " ".join(f"{size}:{value:.2f}" for size, value in r["heldout_by_size"].items()) or "-"
        table.add_row(r["folder"], r["task"], r["arch"], str(r["seed"]), str(r["steps"]), r["policy"], accuracy, sizes)
    out_console.print(table)
    if json_out:
        emit_json({"models": rows})
