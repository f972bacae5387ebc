"""What a direction writes into its target: the one place where DAS/MAS and stitching differ.

A site map owns the learned parameters (a module) and two pure steps:
- `encode`: cached source states (B, P, d_s) of direction (s, t) -> a vector per position (B, P, m);
- `decode`: target t's own rows (M, d_t) and their encoded vectors (M, m) -> the rows written;
- `place`: each parameter onto the device of the model whose states it is applied to, so `encode`
  runs where the source's states are and `decode` where the target's are (the trainer moves the
  encoded vectors from one to the other).
Splitting the two lets the source side be computed once per step for a whole stacked batch, while
the target side runs inside the target's forward pass, where its own state is known.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import torch
from torch import nn

Direction = tuple[int, int]


class SiteMap(Protocol):
    """How a family of methods turns source states into the state written at target positions."""

    def build(self, widths: Sequence[int], seed: int) -> nn.Module:
        """Fresh trainable parameters for models of these site widths; their `matrices()` gives the
        `mats` that `encode` and `decode` read, built once per optimisation step."""

    def place(self, maps: nn.Module, devices: Sequence[torch.device]) -> nn.Module:
        """Move `maps` (from `build`) in place so model i's parameters sit on `devices[i]`; returns it."""

    def check(self, widths: Sequence[int]) -> None:
        """Refuse settings the widths cannot carry (a subspace or rank above a width)."""

    def encode(self, mats: Any, direction: Direction, states: torch.Tensor) -> torch.Tensor:
        """The source side of `direction`: (B, P, d_s) -> (B, P, m)."""

    def decode(self, mats: Any, target: int, encoded: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The rows (M, d_t) written into `target`, from its own rows and the encoded source."""
