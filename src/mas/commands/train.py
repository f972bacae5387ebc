"""`mas train`: a task model trained until it solves held-out sizes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.commands._shared import (
    JSON_HELP,
    RUNS,
    command,
    emit_json,
    int_list,
    log_line,
    note_resume,
    out_console,
    setting,
)
from mas.models.training import TrainConfig
from mas.tasks import TASKS


@command
def train(
    task: str = setting(TrainConfig, "task", help=f"Task family: {', '.join(TASKS)}."),
    arch: str = setting(TrainConfig, "arch"),
    seed: int = setting(TrainConfig, "seed"),
    out: Optional[Path] = typer.Option(None, help="Model folder (default runs/models/TASK-ARCH-sSEED)."),
    max_steps: int = setting(TrainConfig, "max_steps"),
    lr: float = setting(TrainConfig, "lr"),
    weight_decay: float = setting(TrainConfig, "weight_decay"),
    width: int = setting(TrainConfig, "width"),
    eval_every: int = setting(TrainConfig, "eval_every"),
    heldout: Optional[str] = setting(
        TrainConfig, "heldout_counts", "--heldout",
        help="Comma-separated sizes never trained on ('' for none); the task's own by default (4,9,14,17).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model in OUT trained with other settings."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Train a task model until it solves held-out counts (reuses a finished one, resumes an interrupted one)."""
    from mas.models.checkpoint import load_checkpoint
    from mas.models.training import check_train_config, claim_model_folder, is_finished, model_folder, train_task_model

    sizes = None if heldout is None else int_list(heldout, "held-out sizes")
    cfg = TrainConfig(task=task, arch=arch, seed=seed, max_steps=max_steps, lr=lr, weight_decay=weight_decay,
                      width=width, eval_every=eval_every, heldout_counts=sizes)
    check_train_config(cfg)  # an unknown task, option or held-out size is refused before anything is written
    folder = out or model_folder(cfg, RUNS / "models")
    claim_model_folder(folder, cfg, overwrite)
    note_resume(f"training state is saved every {cfg.eval_every} steps in {folder}; run the same command to resume")
    start = time.perf_counter()
    reused = is_finished(folder)  # claimed above: a finished model here was trained with these settings
    result = load_checkpoint(folder)[1] if reused else train_task_model(cfg, folder, log=log_line)
    summary = {"model": str(folder), "steps": result.steps, "heldout_accuracy": result.heldout_accuracy,
               "heldout_by_size": result.heldout_by_size, "seconds": round(time.perf_counter() - start, 2),
               "reused": reused}
    by_size = ", ".join(f"{size}: {value:.3f}" for size, value in result.heldout_by_size.items())
    reached = result.heldout_accuracy >= cfg.target_accuracy
    summary["target_reached"] = reached
    verdict = ("" if reached else f"; the target {cfg.target_accuracy:g} was NOT reached (raise --max-steps or "
               "change --lr, then run again; a model that misses it says little about alignment)")
    out_console.print(f"{'reused' if reused else 'trained'} {folder}: held-out accuracy {result.heldout_accuracy:.3f} "
                      f"after {result.steps} steps" + (f" (by size {by_size})" if by_size else "") + verdict)
    if json_out:
        emit_json(summary)
