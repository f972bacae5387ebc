"""What an adapter needs to overwrite a hidden state: where (a site and a position mask) and how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

# (rows of hidden state (M, d), their batch indices (M,), their positions (M,)) -> new rows (M, d)
EditFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Intervention:
    """Replace the state at `site` wherever `mask` (B, L) is True by `edit` of it."""

    site: str
    mask: torch.Tensor
    edit: EditFn

    def apply(self, hidden: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Edit a run of states (B, L, d) at positions offset .. offset + L − 1 (a whole sequence
        by default), out of place so gradients flow."""
        mask = self.mask[:, offset : offset + hidden.shape[1]].to(hidden.device)
        batch, pos = mask.nonzero(as_tuple=True)
        if batch.numel() == 0:
            return hidden
        return hidden.index_put((batch, pos), self.edit(hidden[batch, pos], batch, pos + offset))

    def apply_at(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """Edit the states (B, d) of one position, for models that run step by step."""
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return self.apply_rows(hidden, rows, torch.full_like(rows, position))

    def apply_rows(self, hidden: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Edit states (n, d) that belong to batch rows `rows` (n,), each at its own position (n,)."""
        mask = self.mask.to(hidden.device)
        inside = positions < mask.shape[1]
        hit = inside & mask[rows, positions.clamp(max=mask.shape[1] - 1)]
        index = hit.nonzero(as_tuple=True)[0]
        if index.numel() == 0:
            return hidden
        return hidden.index_put((index,), self.edit(hidden[index], rows[index], positions[index]))
