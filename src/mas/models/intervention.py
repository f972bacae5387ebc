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

    def apply(self, hidden: torch.Tensor) -> torch.Tensor:
        """Edit a whole sequence of states (B, L, d), out of place so gradients flow."""
        mask = self.mask[:, : hidden.shape[1]].to(hidden.device)
        batch, pos = mask.nonzero(as_tuple=True)
        if batch.numel() == 0:
            return hidden
        return hidden.index_put((batch, pos), self.edit(hidden[batch, pos], batch, pos))

    def apply_at(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """Edit the states (B, d) of one position, for models that run step by step."""
        if position >= self.mask.shape[1]:
            return hidden
        batch = self.mask[:, position].to(hidden.device).nonzero(as_tuple=True)[0]
        if batch.numel() == 0:
            return hidden
        pos = torch.full_like(batch, position)
        return hidden.index_put((batch,), self.edit(hidden[batch], batch, pos))
