"""Interchange intervention accuracy on held-out pairs, free-running, per direction."""

from __future__ import annotations

from typing import Mapping

import torch
from pydantic import BaseModel
from torch.nn.utils import parametrize

from mas.align.interchange import correct_predictions
from mas.align.rotation import Rotations
from mas.align.trainer import AlignmentTrainer, Direction, direction_key
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
