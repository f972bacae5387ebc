"""Counterfactual latents: recorded states of a model that can be watched but not intervened on.

For a pair whose counterfactual puts the target's causal variables at some values, the target
state we want after the intervention is one the model really visits with those values. We record
the model over many natural sequences, index every state by the causal model's variables after its
token, and for each intervened position draw one recorded state with the counterfactual values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from mas.errors import MasError
from mas.models.adapter import ModelAdapter
from mas.tasks.base import PAD, CausalModel
from mas.tasks.pairs import PairSet

Key = tuple[int, ...]


@dataclass
class LatentBank:
    """Recorded states (M, d) and, for each tuple of variable values, the rows that hold it."""

    states: torch.Tensor
    index: dict[Key, list[int]]
    variables: tuple[str, ...]


def trimmed(row: torch.Tensor) -> list[int]:
    """A padded token row without its trailing padding."""
    tokens = row.tolist()
    return tokens[: len(tokens) - next((i for i, t in enumerate(reversed(tokens)) if t != PAD), 0)]


def record_latents(
    adapter: ModelAdapter, site: str, task: CausalModel, n_sequences: int = 2000, seed: int = 0, per_value: int = 256
) -> LatentBank:
    """The model's states at `site` over `n_sequences` natural sequences, keyed by the task's variables.

    At most `per_value` states are kept for each tuple of values: enough variety, bounded memory.
    """
    if n_sequences < 1:
        raise MasError("recording counterfactual latents needs at least one sequence")
    rng = np.random.default_rng([seed, 31])
    rows = [task.sample(rng) for _ in range(n_sequences)]
    width = max(len(r) for r in rows)
    tokens = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])
    states = adapter.read(site, tokens)
    keep: list[torch.Tensor] = []
    index: dict[Key, list[int]] = {}
    for b, row in enumerate(rows):
        for position, state in enumerate(task.trace(row)):
            slot = index.setdefault(tuple(state[v] for v in task.variables), [])
            if len(slot) < per_value:
                slot.append(len(keep))
                keep.append(states[b, position])
    return LatentBank(torch.stack(keep), index, tuple(task.variables))


@dataclass
class LatentPairs:
    """Pairs that found a recorded latent at every intervened position, and those latents."""

    pairs: PairSet
    latents: torch.Tensor  # (N, P, d), zeros where a slot is unused
    dropped: int

    def __len__(self) -> int:
        return len(self.pairs)

    def subset(self, index: torch.Tensor | slice) -> "LatentPairs":
        return LatentPairs(self.pairs.subset(index), self.latents[index], 0)


def counterfactual_values(
    pairs: PairSet, source: CausalModel, target: CausalModel, mapping: Mapping[str, str]
) -> list[list[dict[str, int] | None]]:
    """The target's causal variables at each intervened slot once the source's mapped values are in."""
    out = []
    for n in range(len(pairs)):
        s_trace = source.trace(trimmed(pairs.source_tokens[n]))
        t_trace = target.trace(trimmed(pairs.tokens[n]))
        slots = []
        for sp, tp in zip(pairs.source_positions[n].tolist(), pairs.target_positions[n].tolist()):
            slots.append(None if tp < 0 else {**t_trace[tp], **{tv: s_trace[sp][sv] for sv, tv in mapping.items()}})
        out.append(slots)
    return out


def attach_latents(
    pairs: PairSet, bank: LatentBank, source: CausalModel, target: CausalModel, mapping: Mapping[str, str], seed: int = 0
) -> LatentPairs:
    """Give every pair one recorded latent per intervened position; pairs with no match are dropped."""
    rng = np.random.default_rng([seed, 37])
    kept, rows = [], []
    for n, slots in enumerate(counterfactual_values(pairs, source, target, mapping)):
        chosen = []
        for values in slots:
            if values is None:
                chosen.append(-1)
                continue
            candidates = bank.index.get(tuple(values[v] for v in bank.variables))
            if not candidates:
                break
            chosen.append(candidates[int(rng.integers(len(candidates)))])
        else:
            kept.append(n)
            rows.append(chosen)
    if not kept:
        raise MasError(f"no pair found a recorded latent with its counterfactual values (of {len(pairs)} pairs)")
    where = torch.tensor(rows)
    latents = bank.states[where.clamp(min=0)] * (where >= 0)[..., None].to(bank.states)
    return LatentPairs(pairs.subset(torch.tensor(kept)), latents, len(pairs) - len(kept))
