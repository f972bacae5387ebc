"""Counterfactual pairs: a source sequence, a target sequence, where to swap, and what must follow.

Two builders, both for any pair of causal models and a mapping of source variables onto target
variables (the same task and {"count": "count"} in the common case):
- single-position: a source position and a target position drawn independently;
- stepwise: one position t for both; target positions 0..t are patched from the same source positions.
The counterfactual target sequence is the target's prefix, then what the target's causal model
produces once the mapped variables hold the source's values (passed through the target's
`CausalModel.intervene`, e.g. Modulo's mod 4 in the response phase). Only pairs whose counterfactual differs
from what the target would have done are kept (`require_change`), so an intervention that does
nothing scores zero rather than getting free credit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, Mapping

import numpy as np
import torch

from mas.errors import MasError
from mas.tasks.base import PAD, CausalModel, pick
from mas.tasks.sequences import IGNORE

Mode = Literal["single", "stepwise"]


@dataclass
class PairSet:
    """Counterfactual pairs as padded tensors, ready for training and evaluation.

    source_tokens    (N, Ls)  the source's sequence.
    tokens           (N, Lt)  the counterfactual target sequence the target model reads.
    labels           (N, Lt)  next-token labels at the task positions after the intervention, else -100.
    source_positions (N, P)   source positions to read, -1 where unused.
    target_positions (N, P)   target positions to overwrite (paired with source_positions), -1 where unused.
    """

    source_tokens: torch.Tensor
    tokens: torch.Tensor
    labels: torch.Tensor
    source_positions: torch.Tensor
    target_positions: torch.Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def subset(self, index: torch.Tensor | slice) -> "PairSet":
        return PairSet(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def edit_mask(self) -> torch.Tensor:
        """(N, Lt) True at every target position that is overwritten."""
        mask = torch.zeros(self.tokens.shape, dtype=torch.bool)
        rows, cols = (self.target_positions >= 0).nonzero(as_tuple=True)
        mask[rows, self.target_positions[rows, cols]] = True
        return mask


def _check_mapping(source: CausalModel, target: CausalModel, mapping: Mapping[str, str]) -> None:
    if not mapping:
        raise MasError("the variable mapping is empty")
    for s_var, t_var in mapping.items():
        if s_var not in source.variables:
            raise MasError(f"task {source.name!r} has no variable {s_var!r} (has {', '.join(source.variables)})")
        if t_var not in target.variables:
            raise MasError(f"task {target.name!r} has no variable {t_var!r} (has {', '.join(target.variables)})")
        s_lo, s_hi = source.value_range(s_var)
        t_lo, t_hi = target.value_range(t_var)
        if s_lo < t_lo or s_hi > t_hi:
            raise MasError(
                f"{source.name}.{s_var} takes values {s_lo}..{s_hi}, which {target.name}.{t_var} "
                f"({t_lo}..{t_hi}) cannot carry"
            )


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def build_pairs(
    source: CausalModel,
    target: CausalModel,
    n: int,
    mapping: Mapping[str, str],
    mode: Mode = "single",
    seed: int = 0,
    require_change: bool = True,
    counts: list[int] | None = None,
) -> PairSet:
    """Sample `n` counterfactual pairs that move `mapping`'s variables from `source` into `target`."""
    if n < 1:
        raise MasError("a pair set needs at least one pair")
    if mode not in ("single", "stepwise"):
        raise MasError(f"unknown pair mode {mode!r}; use 'single' or 'stepwise'")
    _check_mapping(source, target, mapping)
    rng = np.random.default_rng(seed)
    src_rows, tok_rows, lab_rows, src_pos, trg_pos = [], [], [], [], []
    attempts = 0
    while len(tok_rows) < n:
        attempts += 1
        if attempts > 200 * n:
            raise MasError(f"could not build {n} valid pairs from {source.name} to {target.name}")
        s_tokens = source.sample(rng, counts)
        t_tokens = target.sample(rng, counts)
        s_ok = [i for i in range(len(s_tokens)) if source.intervenable(s_tokens, i)]
        t_ok = [i for i in range(len(t_tokens)) if target.intervenable(t_tokens, i)]
        if mode == "single":
            t_s, t_t = pick(rng, s_ok), pick(rng, t_ok)
            positions = [(t_s, t_t)]
        else:
            shared = sorted(set(s_ok) & set(t_ok))
            if not shared:
                continue
            t_s = t_t = pick(rng, shared)
            positions = [(i, i) for i in range(t_t + 1)]
        s_state = source.trace(s_tokens)[t_s]
        t_state = target.trace(t_tokens)[t_t]
        new_state = target.intervene({**t_state, **{tv: s_state[sv] for sv, tv in mapping.items()}})
        cf = target.continue_from(t_tokens, t_t, new_state, rng)
        if cf is None or (require_change and cf == t_tokens):
            continue
        mask = target.intervened_task_mask(cf, t_t, new_state)
        labels = [cf[i + 1] if (mask[i] and i >= t_t) else IGNORE for i in range(len(cf) - 1)] + [IGNORE]
        src_rows.append(s_tokens)
        tok_rows.append(cf)
        lab_rows.append(labels)
        src_pos.append([p for p, _ in positions])
        trg_pos.append([p for _, p in positions])
    return PairSet(
        source_tokens=_pad(src_rows, PAD),
        tokens=_pad(tok_rows, PAD),
        labels=_pad(lab_rows, IGNORE),
        source_positions=_pad(src_pos, -1),
        target_positions=_pad(trg_pos, -1),
    )
