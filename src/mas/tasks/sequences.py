"""Plain task sequences as tensors, for training and testing task models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from mas.tasks.base import PAD, CausalModel

IGNORE = -100


@dataclass
class SequenceBatch:
    """tokens (B, L) padded with PAD; labels (B, L): the next token at task positions, else -100."""

    tokens: torch.Tensor
    labels: torch.Tensor

    @property
    def task_mask(self) -> torch.Tensor:
        return self.labels != IGNORE

    def to(self, device: torch.device) -> "SequenceBatch":
        return SequenceBatch(self.tokens.to(device), self.labels.to(device))


def sample_sequences(
    task: CausalModel, rng: np.random.Generator, n: int, counts: Sequence[int] | None = None
) -> SequenceBatch:
    """`n` sampled sequences with their task-position labels."""
    rows = [task.sample(rng, counts) for _ in range(n)]
    width = max(len(r) for r in rows)
    tokens = torch.full((n, width), PAD, dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    for b, row in enumerate(rows):
        tokens[b, : len(row)] = torch.tensor(row)
        for i, scored in enumerate(task.task_mask(row)):
            if scored:
                labels[b, i] = row[i + 1]
    return SequenceBatch(tokens, labels)
