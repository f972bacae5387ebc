"""Where a frozen model can resume: everything before the first changed position is fixed.

An intervention (or a fed-back prediction) at position s cannot change what a causal model
computed before s, and nothing after a row's last scored position is ever read. So a target needs
to run only from each row's first changed position to its last scored one, starting from the state
it recorded there once: `Resume` carries those starts and recorded states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Resume:
    """Per row of a batch: the first position to run (`start`) and the adapter's recorded state there.

    `states` is a table recorded once per pair set; `rows` picks each batch row's entry from it, so
    a step reads from the table only what it runs (a transformer's record of every position is large).
    """

    start: torch.Tensor  # (B,) long
    states: torch.Tensor  # (N, ...) what the adapter needs to resume, from its `resume_states`
    rows: torch.Tensor | None = None  # (B,) each row's entry in `states`; None: row b's is entry b

    def _host_rows(self) -> torch.Tensor:
        """Each row's entry, on the host, where rows are picked and stacked with no trip to the device."""
        return torch.arange(len(self.start)) if self.rows is None else self.rows

    def entries(self) -> torch.Tensor:
        """`rows`, on the device of `states`."""
        return self._host_rows().to(self.states.device)

    def row_states(self) -> torch.Tensor:
        """Each row's recorded state, (B, ...)."""
        return self.states if self.rows is None else self.states[self.entries()]

    def subset(self, index: torch.Tensor | slice) -> Resume:
        rows = self._host_rows()[index.cpu() if isinstance(index, torch.Tensor) else index]
        return Resume(self.start[index], self.states, rows)

    @staticmethod
    def cat(parts: list[Resume], length: int) -> Resume:
        """Rows of several batches stacked; parts drawn from one table stay views of it, others are
        gathered with their per-position states padded to `length` positions."""
        start = torch.cat([p.start for p in parts])
        if all(p.states is parts[0].states for p in parts):
            return Resume(start, parts[0].states, torch.cat([p._host_rows() for p in parts]))
        states = [p.row_states() for p in parts]
        states = [s if s.ndim < 3 else F.pad(s, (0, 0, 0, length - s.shape[1])) for s in states]
        return Resume(start, torch.cat(states))


def no_outputs(tokens: torch.Tensor) -> torch.Tensor:
    """An output mask that asks for no logits: reading states then skips the readout, most of a step's cost."""
    return torch.zeros_like(tokens, dtype=torch.bool)


def first_true(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first True of each row of (B, L), or L where a row has none."""
    length = mask.shape[1]
    where = torch.where(mask, torch.arange(length, device=mask.device), length)
    return where.min(1).values if length else mask.new_zeros(mask.shape[0], dtype=torch.long)


def last_true(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last True of each row of (B, L), or −1 where a row has none."""
    where = torch.where(mask, torch.arange(mask.shape[1], device=mask.device), -1)
    return where.max(1).values


@dataclass
class SuffixPlan:
    """Rows sorted by how many positions they run, longest first, so step j runs rows [:counts[j]]."""

    order: torch.Tensor  # (B,) original row of each sorted row
    start: torch.Tensor  # (B,) sorted rows' first position
    counts: list[int]  # rows still running at each step

    @staticmethod
    def build(start: torch.Tensor, needed: torch.Tensor) -> SuffixPlan:
        """Rows run from `start` to their last `needed` (B, L) position."""
        lengths = (last_true(needed) + 1 - start).clamp(min=0)
        order = lengths.argsort(descending=True, stable=True)
        steps = int(lengths.max()) if len(lengths) else 0
        counts = (lengths[None, :] > torch.arange(steps, device=lengths.device)[:, None]).sum(1).tolist()
        return SuffixPlan(order, start[order], counts)

    def gather(self, steps: list[torch.Tensor], rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The values at (rows, cols) of the original batch, from per-step outputs of sorted rows."""
        offsets = torch.tensor([0, *self.counts[:-1]], device=rows.device).cumsum(0)
        rank = torch.empty_like(self.order)
        rank[self.order] = torch.arange(len(self.order), device=rank.device)
        step = cols - self.start[rank[rows]]
        return torch.cat(steps)[offsets[step] + rank[rows]]
