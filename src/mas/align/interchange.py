"""The interchange intervention in aligned space, batched over directions.

With z = h·Q, replacing the first k aligned dims of the target by the source's and rotating back is
h̃ = h_t + (z_s[:k] − h_t·Q_t[:, :k]) · Q_t[:, :k]ᵀ, which needs only the first k columns of each Q.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mas.models.adapter import ModelAdapter
from mas.models.intervention import EditFn, Intervention
from mas.tasks.pairs import IGNORE, PairSet


def interchange_edit(source_aligned: torch.Tensor, target_basis: torch.Tensor, keep_target: bool = True) -> EditFn:
    """An edit that writes `source_aligned` (B, L, k) into the span of `target_basis` (d, k).

    With `keep_target=False` the target's own state is dropped entirely (h̃ = z_s · Q_tᵀ restricted to
    k dims): the orthogonal-stitching form of MAS.
    """

    def edit(rows: torch.Tensor, batch: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        z_source = source_aligned[batch, pos].to(rows.dtype)
        basis = target_basis.to(rows.dtype)
        if not keep_target:
            return z_source @ basis.T
        return rows + (z_source - rows @ basis) @ basis.T

    return edit


@torch.no_grad()
def read_source_states(adapter: ModelAdapter, site: str, pairs: PairSet, batch_size: int = 512) -> torch.Tensor:
    """The source model's states at each pair's source positions, (N, P, d); zeros where unused.

    Sources never change while rotations train, so this runs once per dataset.
    """
    out = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs.subset(slice(start, start + batch_size))
        states = adapter.read(site, chunk.source_tokens)
        positions = chunk.source_positions.clamp(min=0).to(states.device)
        gathered = torch.gather(states, 1, positions[..., None].expand(-1, -1, states.shape[-1]))
        out.append(gathered * (chunk.source_positions >= 0)[..., None].to(gathered))
    return torch.cat(out)


@dataclass
class DirectionPart:
    """One direction's share of a stacked target batch."""

    pairs: PairSet
    source_states: torch.Tensor  # (B, P, d_s), from `read_source_states`
    source_basis: torch.Tensor  # Q_s[:, :k]


def _pad_to(x: torch.Tensor, length: int, value: int) -> torch.Tensor:
    return F.pad(x, (0, length - x.shape[1]), value=value)


def stacked_batch(
    site: str, parts: list[DirectionPart], target_basis: torch.Tensor, keep_target: bool = True
) -> tuple[torch.Tensor, torch.Tensor, Intervention]:
    """Tokens, labels and one intervention for every direction into one target, stacked on the batch.

    One forward pass of the target then serves all its sources.
    """
    length = max(p.pairs.tokens.shape[1] for p in parts)
    k = target_basis.shape[1]
    tokens = torch.cat([_pad_to(p.pairs.tokens, length, 0) for p in parts])
    labels = torch.cat([_pad_to(p.pairs.labels, length, IGNORE) for p in parts])
    dense = []
    for part in parts:
        states = part.source_states
        aligned = states @ part.source_basis.to(states.dtype)  # (B, P, k)
        grid = aligned.new_zeros(len(part.pairs), length, k)
        rows, slots = (part.pairs.target_positions >= 0).nonzero(as_tuple=True)
        grid = grid.index_put((rows, part.pairs.target_positions[rows, slots]), aligned[rows, slots])
        dense.append(grid)
    mask = torch.cat([_pad_to(p.pairs.edit_mask, length, False) for p in parts])
    edit = interchange_edit(torch.cat(dense), target_basis, keep_target)
    return tokens, labels, Intervention(site, mask, edit)


def correct_predictions(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair: whether every labelled position is right (trial), and how many positions are right."""
    scored = labels != IGNORE
    right = (logits.argmax(-1) == labels.to(logits.device)) & scored.to(logits.device)
    trial = (right | ~scored.to(logits.device)).all(1)
    return trial.cpu(), right.sum(1).cpu()
