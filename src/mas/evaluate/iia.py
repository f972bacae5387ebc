"""Interchange intervention accuracy on held-out pairs, free-running, per direction."""

from __future__ import annotations

from typing import Mapping

import torch
from pydantic import BaseModel
from torch.nn.utils import parametrize

from mas.align.interchange import correct_predictions
from mas.align.rotation import Rotations
from mas.align.trainer import AlignmentTrainer, Direction, direction_key
from mas.errors import MasError
from mas.tasks.pairs import IGNORE, PairSet


class Score(BaseModel):
    """Trial accuracy (every task position right) and token accuracy of one direction."""

    trial: float
    token: float
    pairs: int


@torch.no_grad()
def evaluate_iia(
    trainer: AlignmentTrainer,
    rotations: Rotations,
    pairs: Mapping[Direction, PairSet],
    free_running: bool = True,
    batch_size: int = 512,
) -> dict[Direction, Score]:
    """IIA of every direction in `pairs`; the target feeds back its own predictions when free-running.

    `rotations` are moved to the trainer's devices first (in place), as training would place them.
    """
    check_evaluation(trainer, rotations, pairs, batch_size)
    scores = {}
    trainer.place(rotations)
    with parametrize.cached():
        qs = rotations.matrices()
        for direction, pair_set in pairs.items():
            trials, right, total = 0, 0, 0
            for start in range(0, len(pair_set), batch_size):
                rows = slice(start, start + batch_size)
                logits, labels, _ = trainer.forward(qs, direction[1], {direction: pair_set}, {direction: rows}, feed=free_running)
                trial, tokens_right = correct_predictions(logits, labels)
                trials += int(trial.sum())
                right += int(tokens_right.sum())
                total += int((labels != IGNORE).sum())
            scores[direction] = Score(trial=trials / len(pair_set), token=right / max(total, 1), pairs=len(pair_set))
    return scores


def check_evaluation(
    trainer: AlignmentTrainer, rotations: Rotations, pairs: Mapping[Direction, PairSet], batch_size: int
) -> None:
    """Say what `evaluate_iia` expected, rather than fail deep inside torch on a misuse."""
    if not isinstance(trainer, AlignmentTrainer):
        raise MasError(f"trainer must be an AlignmentTrainer, got {type(trainer).__name__}")
    if not callable(getattr(rotations, "matrices", None)):  # Rotations, or anything that gives their matrices
        raise MasError(f"rotations must be Rotations (e.g. a fit's .rotations), got {type(rotations).__name__}")
    widths = getattr(rotations, "widths", None)
    if widths is not None and list(widths) != list(trainer.widths):
        raise MasError(f"rotations of widths {list(widths)} do not fit the trainer's sites "
                       f"(widths {list(trainer.widths)})")
    if not isinstance(pairs, Mapping) or not pairs:
        raise MasError("pairs must map at least one direction (source, target) to a PairSet")
    n = len(trainer.widths)
    for direction, pair_set in pairs.items():
        if not (isinstance(direction, tuple) and len(direction) == 2
                and all(isinstance(i, int) and 0 <= i < n for i in direction)):
            raise MasError(f"direction {direction!r} must be a (source, target) pair of model indices below {n}")
        if not isinstance(pair_set, PairSet) or len(pair_set) == 0:
            raise MasError(f"pairs[{direction}] must be a non-empty PairSet, got {type(pair_set).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MasError(f"batch_size must be a positive integer, got {batch_size!r}")


def random_rotation_control(
    trainer: AlignmentTrainer, pairs: Mapping[Direction, PairSet], seed: int = 10_000
) -> dict[Direction, Score]:
    """The same evaluation with rotations that were never trained: it must score low."""
    return evaluate_iia(trainer, Rotations(trainer.widths, seed=seed), pairs)


def iia_matrix(scores: Mapping[Direction, Score], n: int, field: str = "trial") -> list[list[float | None]]:
    """scores as an n×n matrix, rows = source, columns = target; None where a direction was not run."""
    return [[getattr(scores[(s, t)], field) if (s, t) in scores else None for t in range(n)] for s in range(n)]


def scores_json(scores: Mapping[Direction, Score], field: str = "trial") -> dict[str, float]:
    return {direction_key(d): getattr(s, field) for d, s in scores.items()}
