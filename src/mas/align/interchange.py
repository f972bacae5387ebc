"""The interchange intervention in aligned space, batched over directions.

With z = h·Q, replacing the first k aligned dims of the target by the source's and rotating back is
h̃ = h_t + (z_s[:k] − h_t·Q_t[:, :k]) · Q_t[:, :k]ᵀ, which needs only the first k columns of each Q.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import EditFn, Intervention
from mas.adapters.resume import Resume, first_true
from mas.align.maps import Direction
from mas.align.rotation import DEFAULT_MAP, OrthogonalMap, Rotations
from mas.errors import MasError
from mas.tasks.pairs import IGNORE, PairSet


def write_aligned(z_source: torch.Tensor, rows: torch.Tensor, basis: torch.Tensor, keep_target: bool) -> torch.Tensor:
    """Target rows with their span of `basis` (d, k) holding `z_source` (M, k) instead."""
    basis = basis.to(rows.dtype)
    z_source = z_source.to(rows.dtype)
    if not keep_target:
        return z_source @ basis.T
    return rows + (z_source - rows @ basis) @ basis.T


def interchange_edit(source_aligned: torch.Tensor, target_basis: torch.Tensor, keep_target: bool = True) -> EditFn:
    """An edit that writes `source_aligned` (B, L, k) into the span of `target_basis` (d, k).

    With `keep_target=False` the target's own state is dropped entirely (h̃ = z_s · Q_tᵀ restricted to
    k dims): the orthogonal-stitching form of MAS.
    """
    return lambda rows, batch, pos: write_aligned(source_aligned[batch, pos], rows, target_basis, keep_target)


@dataclass(frozen=True)
class Interchange:
    """The MAS/DAS site map: swap the first k aligned dims of the target for the source's."""

    k: int
    keep_target: bool = True
    orthogonal_map: OrthogonalMap = DEFAULT_MAP

    def build(self, widths: Sequence[int], seed: int) -> Rotations:
        return Rotations(widths, seed=seed, orthogonal_map=self.orthogonal_map)

    def place(self, maps: Rotations, devices: Sequence[torch.device]) -> Rotations:
        for layer, device in zip(maps.layers, devices):
            layer.to(device)
        return maps

    def check(self, widths: Sequence[int]) -> None:
        if self.k > min(widths):
            raise MasError(f"k = {self.k} is larger than the narrowest site width ({min(widths)})")

    def encode(self, mats: Sequence[torch.Tensor], direction: Direction, states: torch.Tensor) -> torch.Tensor:
        return states @ mats[direction[0]][:, : self.k].to(states.dtype)

    def decode(self, mats: Sequence[torch.Tensor], target: int, encoded: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return write_aligned(encoded, rows, mats[target][:, : self.k], self.keep_target)


@torch.no_grad()
def read_states(
    adapter: ModelAdapter, site: str, tokens: torch.Tensor, positions: torch.Tensor, batch_size: int = 512
) -> torch.Tensor:
    """A model's states at given positions of its sequences, (N, P, d); zeros where a position is -1."""
    out = []
    for start in range(0, len(tokens), batch_size):
        rows = slice(start, start + batch_size)
        states = adapter.read(site, tokens[rows])
        where = positions[rows]
        gathered = torch.gather(states, 1, where.clamp(min=0).to(states.device)[..., None].expand(-1, -1, states.shape[-1]))
        out.append(gathered * (where >= 0)[..., None].to(gathered))
    return torch.cat(out)


def read_source_states(adapter: ModelAdapter, site: str, pairs: PairSet, batch_size: int = 512) -> torch.Tensor:
    """The source model's states at each pair's source positions, (N, P, d); zeros where unused.

    Sources never change while maps train, so this runs once per dataset.
    """
    return read_states(adapter, site, pairs.source_tokens, pairs.source_positions, batch_size)


@torch.no_grad()
def read_resume(adapter: ModelAdapter, site: str, pairs: PairSet, batch_size: int = 512) -> Resume | None:
    """Where the target can start on each pair (its first intervened or scored position: nothing
    before it differs from the target's own run) and what the adapter recorded there; None where
    the adapter cannot start midway."""
    start = first_true(pairs.edit_mask | (pairs.labels != IGNORE))
    if not adapter.resume_fits(site, start):
        return None
    chunks = []
    for i in range(0, len(pairs), batch_size):
        states = adapter.resume_states(site, pairs.tokens[i : i + batch_size], start[i : i + batch_size])
        if states is None:
            return None
        chunks.append(states)
    if not chunks:
        return None
    # Per-position records may cover only each chunk's prefix (a language model's keys and values):
    # pad the narrower chunks to the widest (a transformer's all have every position, so none is copied).
    if chunks[0].ndim >= 3:
        width = max(c.shape[1] for c in chunks)
        chunks = [c if c.shape[1] == width else F.pad(c, (0, 0, 0, width - c.shape[1])) for c in chunks]
    return Resume(start, torch.cat(chunks))


@dataclass
class DirectionPart:
    """One direction's share of a stacked target batch: its pairs and its encoded sources."""

    pairs: PairSet
    encoded: torch.Tensor  # (B, P, m), from a site map's `encode`


def _pad_to(x: torch.Tensor, length: int, value: int) -> torch.Tensor:
    return F.pad(x, (0, length - x.shape[1]), value=value)


def stacked_batch(
    site: str, parts: list[DirectionPart], decode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, Intervention]:
    """Tokens, labels and one intervention for every direction into one target, stacked on the batch.

    One forward pass of the target then serves all its sources. `decode(encoded_rows, own_rows)`
    gives the rows written.
    """
    length = max(p.pairs.tokens.shape[1] for p in parts)
    tokens = torch.cat([_pad_to(p.pairs.tokens, length, 0) for p in parts])
    labels = torch.cat([_pad_to(p.pairs.labels, length, IGNORE) for p in parts])
    dense = []
    for part in parts:
        grid = part.encoded.new_zeros(len(part.pairs), length, part.encoded.shape[-1])
        rows, slots = (part.pairs.target_positions >= 0).nonzero(as_tuple=True)
        grid = grid.index_put((rows, part.pairs.target_positions[rows, slots]), part.encoded[rows, slots])
        dense.append(grid)
    mask = torch.cat([_pad_to(p.pairs.edit_mask, length, False) for p in parts])
    encoded = torch.cat(dense)
    return tokens, labels, Intervention(site, mask, lambda rows, batch, pos: decode(encoded[batch, pos], rows))


def correct_predictions(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair: whether every labelled position is right (trial), and how many positions are right."""
    scored = labels != IGNORE
    right = (logits.argmax(-1) == labels.to(logits.device)) & scored.to(logits.device)
    trial = (right | ~scored.to(logits.device)).all(1)
    return trial.cpu(), right.sum(1).cpu()
