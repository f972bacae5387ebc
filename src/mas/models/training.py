"""Training task models to solve their task on held-out counts, resumable after an interruption.

Recurrent models are trained free-running on task positions (their own predictions are fed back);
transformers are teacher-forced. The data stream is seeded by (seed, step), so a resumed run sees
exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch import nn

from mas.devices import model_device
from mas.errors import SEED_LIMIT, MasError
from mas.io import load_tensors, read_json, save_tensors, write_json
from mas.models.checkpoint import Arch, TaskModelConfig, load_checkpoint, save_checkpoint
from mas.progress import progress_bar
from mas.run_folder import (
    check_writable,
    claim_folder,
    read_marker,
    remove_stale_temporaries,
    removed_if_left_empty,
    run_marker,
    write_marker,
)
from mas.tasks import CausalModel, make_task
from mas.tasks.sequences import IGNORE, sample_sequences

# Offsets of each architecture's weight-initialisation seed. Both architectures build their token
# embedding first, with the same shape, so a GRU and a transformer of the same seed would otherwise
# start from the same embedding table (and, since training moves it little, end near it too).
INIT_SEED_OFFSET = {"gru": 0, "transformer": 100_003}
TRAIN = "train"  # the run marker's command of a trained model folder
# What a model folder's name promises (TASK-ARCH-sSEED); figures reuse any finished model that keeps it.
MODEL_FIELDS = ("task", "arch", "seed")
# Test sequences come from random streams seeded (seed + i, EVAL_STREAM); training batch `step` is
# seeded (seed, step) with step < EVAL_STREAM, so the training stream never draws a test stream.
EVAL_STREAM = 10**9


class TrainConfig(BaseModel):
    task: str = "multi_object"
    arch: Arch = Field("gru", description="the architecture: " + " or ".join(get_args(Arch)))
    seed: int = Field(0, ge=0, lt=SEED_LIMIT)
    width: int = Field(128, ge=1, description="hidden width (and embedding width) of the model")
    max_steps: int = Field(6000, ge=1, lt=EVAL_STREAM, description="stop here if the held-out target is not reached")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False, description="decoupled (AdamW) weight decay")
    warmup: int = Field(100, ge=0)
    eval_every: int = Field(100, ge=1, description="steps between held-out checks; the training state is saved at each")
    eval_sequences: int = Field(500, ge=1)
    target_accuracy: float = Field(0.99, gt=0, le=1)
    heldout_counts: list[int] | None = Field(None, description="sizes never trained on; the task's own by default")
    void_prob: float | None = Field(None, description="void-token rate; default 0.2 for transformers, 0 otherwise")
    options: dict[str, Any] = Field(default_factory=dict, description="further task options, e.g. max_count")

    def heldout(self) -> list[int]:
        """The sizes never trained on: the given ones, or the task family's policy."""
        if self.heldout_counts is not None:
            return self.heldout_counts
        return list(make_task(self.task, **self.task_options()).heldout_sizes)

    def task_options(self) -> dict[str, Any]:
        void = self.void_prob if self.void_prob is not None else (0.2 if self.arch == "transformer" else 0.0)
        return {**self.options, **({"void_prob": void} if void else {})}


def check_train_config(cfg: TrainConfig) -> list[int]:
    """Refuse, before anything is written, settings the task cannot train under; the training sizes.

    An unknown task or option, held-out sizes given outside the task's range of sizes (they would
    never be drawn, so held-out accuracy would mean nothing), or every size held out.
    """
    task = make_task(cfg.task, **cfg.task_options())
    lo, hi = _size_range(task)
    outside = [size for size in cfg.heldout_counts or [] if not lo <= size <= hi]
    if outside:
        raise MasError(f"--heldout {','.join(map(str, outside))}: outside the sizes of {cfg.task} ({lo} to {hi})")
    return training_counts(task, cfg.heldout())


def _size_range(task: CausalModel) -> tuple[int, int]:
    """The sizes a task draws: its size variable's range from 1, capped at `max_count` where it has one."""
    lo, hi = task.value_range(task.variables[0])
    return max(lo, 1), hi if task.max_count is None else min(hi, task.max_count)


def heldout_policy(heldout: list[int]) -> str:
    """How a model's accuracy was tested, in words: on sizes it never saw, or on fresh sequences of every size."""
    if heldout:
        return "sizes " + ",".join(map(str, heldout)) + " held out"
    return "no size held out; fresh sequences"


def training_counts(task: CausalModel, heldout: list[int]) -> list[int]:
    """The sizes sampled for training: the size variable's range from 1, less the held-out ones.

    A rule may push the count past the largest demo count (Rounding answers 20 with 21 R's), so the
    range is capped at `max_count` where a task has one: no sequence has more demo tokens than that.
    """
    lo, hi = _size_range(task)
    counts = [c for c in range(lo, hi + 1) if c not in heldout]
    if not counts:
        raise MasError("every count is held out; nothing left to train on")
    return counts


@torch.no_grad()
def heldout_accuracy(model: nn.Module, task: CausalModel, counts: list[int], n: int, seed: int) -> float:
    """Free-running full-sequence accuracy on sequences whose count is in `counts` (any count if empty).

    The sequences come from a random stream training never draws from (see `EVAL_STREAM`).
    """
    batch = sample_sequences(task, np.random.default_rng([seed, EVAL_STREAM]), n, counts or None)
    batch = batch.to(next(model.parameters()).device)
    model.eval()
    logits = model(batch.tokens, feed_mask=batch.task_mask)[0]
    model.train()
    right = (logits.argmax(-1) == batch.labels) | ~batch.task_mask
    return float(right.all(1).float().mean())


@torch.no_grad()
def accuracy_by_size(model: nn.Module, task: CausalModel, sizes: list[int], n: int, seed: int) -> dict[int, float]:
    """`heldout_accuracy` for each size alone: which held-out sizes a model fails, not only how many."""
    return {size: heldout_accuracy(model, task, [size], n, seed + size) for size in sizes}


def _save_state(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, cfg: TrainConfig) -> None:
    state = optimizer.state_dict()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"optim.{pid}.{name}": t for pid, st in state["state"].items() for name, t in st.items()}
    save_tensors(folder / "train_state.safetensors", tensors)
    write_json(folder / "train_state.json", {"step": step, "param_groups": state["param_groups"], "config": cfg.model_dump()})


def _check_finite(model: nn.Module, loss: torch.Tensor | None, step: int) -> None:
    """Stop a training whose loss or weights are no longer finite, before it is saved (as a state or as trained)."""
    finite_loss = loss is None or math.isfinite(loss.item())
    if not finite_loss or not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise MasError(f"training diverged by step {step}: the loss or the weights are no longer finite; "
                       "nothing was saved as trained (try a smaller --lr)")


def _load_state(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> int:
    meta = read_json(folder / "train_state.json")
    if meta.get("config") != cfg.model_dump():
        raise MasError(f"{folder} holds an interrupted run with other settings; pass --overwrite to replace it")
    tensors = load_tensors(folder / "train_state.safetensors")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            optim_state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    return int(meta["step"])


def train_task_model(
    cfg: TrainConfig, folder: Path, show_progress: bool = True, log: Callable[[str], None] = print,
    device: torch.device | None = None,
) -> TaskModelConfig:
    """Train until held-out accuracy reaches the target (or max_steps); write the checkpoint folder.

    On `device` (default: the command's first `--device`); the checkpoint does not depend on where.
    """
    folder = Path(folder)
    counts = check_train_config(cfg)
    task = make_task(cfg.task, **cfg.task_options())
    heldout = cfg.heldout()
    with removed_if_left_empty(folder):
        return _train(cfg, folder, task, heldout, counts, show_progress, log, device)


def _train(
    cfg: TrainConfig, folder: Path, task: CausalModel, heldout: list[int], counts: list[int], show_progress: bool,
    log: Callable[[str], None], device: torch.device | None,
) -> TaskModelConfig:
    """The training loop of `train_task_model`, on settings it checked."""
    torch.manual_seed(cfg.seed + INIT_SEED_OFFSET[cfg.arch])
    model_cfg = TaskModelConfig(
        arch=cfg.arch, task=cfg.task, task_options=cfg.task_options(), vocab_size=task.vocab_size,
        width=cfg.width, seed=cfg.seed, heldout_counts=heldout,
    )
    model = model_cfg.build_model().train().to(device or model_device(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    remove_stale_temporaries(folder)
    step = _load_state(folder, model, optimizer, cfg) if (folder / "train_state.json").exists() else 0
    if step:
        log(f"resuming {folder} from step {step}")
    accuracy, loss = 0.0, None
    with progress_bar(show_progress) as bar:
        job = bar.add_task(f"training {cfg.arch} on {cfg.task}", total=cfg.max_steps, completed=step, status="")
        while step < cfg.max_steps:
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * min(1.0, step / max(cfg.warmup, 1))
            batch = sample_sequences(task, np.random.default_rng([cfg.seed, step]), cfg.batch_size, counts)
            batch = batch.to(next(model.parameters()).device)
            feed = batch.task_mask if model.recurrent else None
            logits = model(batch.tokens, feed_mask=feed)[0]
            loss = F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.advance(job)
            if step % cfg.eval_every == 0:
                _check_finite(model, loss, step)
                accuracy = heldout_accuracy(model, task, heldout, cfg.eval_sequences, cfg.seed)
                bar.update(job, status=f"loss {loss.item():.3f} held-out acc {accuracy:.3f}")
                _save_state(folder, model, optimizer, step, cfg)
                # Stopping on one evaluation set favours a lucky draw of it: a second, larger one
                # must agree before training ends. The reported accuracy comes from a third.
                if accuracy >= cfg.target_accuracy and (
                    heldout_accuracy(model, task, heldout, 2 * cfg.eval_sequences, cfg.seed + 1) >= cfg.target_accuracy
                ):
                    break
    _check_finite(model, loss, step)
    accuracy = heldout_accuracy(model, task, heldout, 2 * cfg.eval_sequences, cfg.seed + 2)
    by_size = accuracy_by_size(model, task, heldout, cfg.eval_sequences, cfg.seed + 2)
    final = model_cfg.model_copy(update={"steps": step, "heldout_accuracy": accuracy, "heldout_by_size": by_size})
    save_checkpoint(folder, model.eval(), final)
    write_marker(folder, TRAIN, cfg)
    for name in ("train_state.json", "train_state.safetensors"):
        (folder / name).unlink(missing_ok=True)
    return final


def model_folder(cfg: TrainConfig, models_dir: Path) -> Path:
    return Path(models_dir) / f"{cfg.task}-{cfg.arch}-s{cfg.seed}"


def is_finished(folder: Path) -> bool:
    return (Path(folder) / "config.json").is_file()


def trained_with(folder: Path, cfg: TrainConfig, fields: tuple[str, ...] | None = None) -> bool | None:
    """Whether the finished model in `folder` was trained with `cfg`, or agrees with it on `fields`
    (None: its settings were not recorded).

    Trained with `cfg` includes the held-out sizes as trained (config.json), not only as asked for:
    a model trained by default under an earlier policy of its family is not the one `cfg` makes now.
    """
    marker = read_marker(folder)
    if marker is None:
        return None
    wanted = run_marker(TRAIN, cfg)
    if fields is None:
        return marker == wanted and read_json(Path(folder) / "config.json").get("heldout_counts") == cfg.heldout()
    saved = marker.get("settings") or {}
    return marker.get("command") == TRAIN and all(saved.get(f) == wanted["settings"][f] for f in fields)


def claim_model_folder(folder: Path, cfg: TrainConfig, overwrite: bool = False) -> None:
    """Check, before training, that `folder` is new, this run's to resume or reuse, or may be replaced.

    A finished model trained with other settings (or with unrecorded ones), or a folder of other
    files, is replaced only with `overwrite`; the folder is then emptied here, before training.
    """
    folder = Path(folder)
    check_writable(folder, "--out")
    if folder.exists() and not folder.is_dir():
        raise MasError(f"--out {folder} is a file, not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if is_finished(folder):
        conflict = trained_with(folder, cfg) is not True and "a trained model with other (or unrecorded) settings"
    elif (folder / "train_state.json").is_file():
        saved = read_json(folder / "train_state.json").get("config")
        conflict = saved != cfg.model_dump() and "an interrupted training run with other settings"
    else:
        conflict = "files that are not a mas model"
    if not conflict:
        return
    if not overwrite:
        raise MasError(f"{folder} holds {conflict}; pass --overwrite to replace it, or choose another --out")
    claim_folder(folder, TRAIN, cfg, overwrite=True)
    shutil.rmtree(folder)


def ensure_model(cfg: TrainConfig, models_dir: Path, show_progress: bool = True) -> Path:
    """The folder of a trained model for `cfg`, training it first if it is not there yet.

    A model there is reused when it is the model the folder's name promises (task, architecture,
    seed), whatever else it was trained with: a user may put a model of their own making there. A
    model of another task, architecture or seed is refused, never reused.
    """
    folder = model_folder(cfg, models_dir)
    if is_finished(folder):
        if trained_with(folder, cfg, MODEL_FIELDS) is False:
            raise MasError(f"{folder} holds a model of another task, architecture or seed than its name says; "
                           "move it away or use another --models-dir")
        load_checkpoint(folder)  # refuses a corrupt or mismatched checkpoint before any long work
    else:
        train_task_model(cfg, folder, show_progress)
    return folder
