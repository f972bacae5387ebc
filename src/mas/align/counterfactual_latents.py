"""Counterfactual latents: recorded states of a model that can be watched but not intervened on.

For a pair whose counterfactual puts the target's causal variables at some values, the target
state we want after the intervention is one the model really visits with those values. Two ways:
- the source's own sequence (`source_sequence_latents`): when the source and target share a task and
  the whole causal state is swapped, the counterfactual state is the source's state, and the
  inaccessible model's own state on the source's sequence at the source position is exactly such a
  state (the reference code's target at the paper's time);
- matched (`record_latents` + `attach_latents`): record the model over many natural sequences, index
  every state by the causal model's variables after its token and the sequence's size (object
  count), skip states after BOS, EOS or a trigger, and for each intervened position draw one
  recorded state with the counterfactual values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from mas.adapters.base import ModelAdapter
from mas.align.interchange import read_states
from mas.errors import MasError
from mas.tasks.base import PAD, CausalModel
from mas.tasks.pairs import PairSet

Key = tuple[int, ...]


@dataclass
class LatentBank:
    """Recorded states (M, d) and, for each tuple of variable values, the rows that hold it."""

    states: torch.Tensor
    index: dict[Key, list[int]]  # keyed by the variables' values, then the sequence's size when the task has one
    variables: tuple[str, ...]


def trimmed(row: torch.Tensor) -> list[int]:
    """A padded token row without its trailing padding."""
    tokens = row.tolist()
    return tokens[: len(tokens) - next((i for i, t in enumerate(reversed(tokens)) if t != PAD), 0)]


def record_latents(
    adapter: ModelAdapter, site: str, task: CausalModel, n_sequences: int = 2000, seed: int = 0, per_value: int = 256
) -> LatentBank:
    """The model's states at `site` over `n_sequences` natural sequences, keyed by the task's variables
    and the sequence's size (`CausalModel.size`); states that are not `matchable` are left out.

    At most `per_value` states are kept for each key: enough variety, bounded memory.
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
        size = task.size(row)
        for position, state in enumerate(task.trace(row)):
            if not task.matchable(row, position):
                continue
            slot = index.setdefault(latent_key(state, task.variables, size), [])
            if len(slot) < per_value:
                slot.append(len(keep))
                keep.append(states[b, position])
    return LatentBank(torch.stack(keep), index, tuple(task.variables))


def latent_key(values: Mapping[str, int], variables: tuple[str, ...], size: int | None) -> Key:
    return tuple(values[v] for v in variables) + (() if size is None else (size,))


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
            written = None if tp < 0 else {**t_trace[tp], **{tv: s_trace[sp][sv] for sv, tv in mapping.items()}}
            slots.append(None if written is None else target.intervene(written))
        out.append(slots)
    return out


def attach_latents(
    pairs: PairSet, bank: LatentBank, source: CausalModel, target: CausalModel, mapping: Mapping[str, str], seed: int = 0
) -> LatentPairs:
    """Give every pair one recorded latent per intervened position; pairs with no match are dropped.

    The size matched is the source sequence's when the mapping swaps the target's whole state, else
    the target sequence's.
    """
    rng = np.random.default_rng([seed, 37])
    whole = set(mapping.values()) == set(target.variables)
    kept, rows = [], []
    for n, slots in enumerate(counterfactual_values(pairs, source, target, mapping)):
        size = (source if whole else target).size(trimmed((pairs.source_tokens if whole else pairs.tokens)[n]))
        chosen = []
        for values in slots:
            if values is None:
                chosen.append(-1)
                continue
            candidates = bank.index.get(latent_key(values, bank.variables, size))
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


def source_sequence_latents(
    adapter: ModelAdapter, site: str, pairs: PairSet, source: CausalModel, target: CausalModel, mapping: Mapping[str, str]
) -> LatentPairs:
    """Every pair's latents read from `adapter`'s model on the source's own sequence at the source positions.

    Exact only when the counterfactual state is the source's state: one task, the whole state swapped.
    """
    if source.name != target.name or set(mapping.items()) != {(v, v) for v in target.variables}:
        raise MasError("latents from the source's own sequence need one task and its whole causal state swapped "
                       f"(mapping {dict(mapping)}); use matched latents")
    return LatentPairs(pairs, read_states(adapter, site, pairs.source_tokens, pairs.source_positions), 0)
