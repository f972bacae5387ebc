"""Stepwise counterfactual pairs for language models.

A pair joins a source prompt and a target prompt of exactly `length` tokens. At a step
t ~ U[10, L-10) the target's states at positions 0..t are replaced by the source's, and from t+1 on
the target reads the source's tokens. If the two models encode the prefix the same way, the target
should then continue as the source would: the labels at positions >= t are the source model's own
greedy next tokens on the source prompt. Labels depend on the source model, so each direction
(source, target) has its own pair set.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from mas.adapters.base import ModelAdapter
from mas.errors import MasError
from mas.tasks.pairs import IGNORE, PairSet

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase as Tokenizer

log = logging.getLogger(__name__)

MARGIN = 10  # t is drawn from [MARGIN, length - MARGIN)


def tokenize_exact(tokenizer: Tokenizer, texts: Sequence[str], length: int) -> torch.Tensor:
    """Token ids (N, length) of the texts that have at least `length` tokens, cut to `length`.

    Shorter texts are dropped and their number logged, so a too-short corpus is visible.
    """
    if length < 2 * MARGIN + 1:
        raise MasError(f"stepwise LM pairs need length >= {2 * MARGIN + 1} tokens, got {length}")
    ids = tokenizer(list(texts), truncation=True, max_length=length)["input_ids"] if texts else []
    rows = [row for row in ids if len(row) == length]
    dropped = len(ids) - len(rows)
    if dropped:
        log.info("dropped %d of %d texts shorter than %d tokens", dropped, len(ids), length)
    if not rows:
        raise MasError(f"none of the {len(ids)} texts has {length} tokens; use shorter prompts or more text")
    return torch.tensor(rows, dtype=torch.long)


@torch.no_grad()
def greedy_next(model: ModelAdapter, tokens: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """The model's own argmax next token at every position (N, L), on CPU."""
    chunks = [
        model.run(tokens[i : i + batch_size].to(model.device)).argmax(-1).cpu()
        for i in range(0, len(tokens), batch_size)
    ]
    return torch.cat(chunks)


def _pairs(
    source_tokens: torch.Tensor, source_greedy: torch.Tensor, target_tokens: torch.Tensor, rng: np.random.Generator
) -> PairSet:
    n, length = source_tokens.shape
    steps = torch.from_numpy(rng.integers(MARGIN, length - MARGIN, size=n))
    positions = torch.arange(length)
    prefix = positions[None, :] <= steps[:, None]  # (N, L): positions 0..t
    tokens = torch.where(prefix, target_tokens, source_tokens)
    labels = torch.where(positions[None, :] >= steps[:, None], source_greedy, torch.full_like(source_greedy, IGNORE))
    width = int(steps.max()) + 1
    patched = torch.arange(width)[None, :].expand(n, width)
    patched = torch.where(patched <= steps[:, None], patched, torch.full_like(patched, -1))
    return PairSet(
        source_tokens=source_tokens,
        tokens=tokens,
        labels=labels,
        source_positions=patched,
        target_positions=patched.clone(),
    )


def build_lm_pairs(
    source: ModelAdapter,
    tokenizer: Tokenizer,
    prompts_source: Sequence[str],
    prompts_target: Sequence[str],
    length: int,
    seed: int = 0,
    batch_size: int = 32,
) -> PairSet:
    """Stepwise pairs from `source` into any target, pairing the i-th usable prompts of each list."""
    source_tokens = tokenize_exact(tokenizer, prompts_source, length)
    target_tokens = tokenize_exact(tokenizer, prompts_target, length)
    n = min(len(source_tokens), len(target_tokens))
    source_tokens, target_tokens = source_tokens[:n], target_tokens[:n]
    greedy = greedy_next(source, source_tokens, batch_size)
    return _pairs(source_tokens, greedy, target_tokens, np.random.default_rng(seed))


def build_lm_pair_sets(
    adapters: Sequence[ModelAdapter],
    tokenizer: Tokenizer,
    texts: Sequence[str],
    length: int,
    n: int,
    seed: int = 0,
    batch_size: int = 32,
) -> dict[tuple[int, int], PairSet]:
    """`n` pairs for each of the n_models² directions (s, t), all models sharing one tokenizer.

    Texts are tokenized once. Each source draws its prompts once and runs once for its greedy
    labels; the target prompts and the steps t are drawn afresh, independently, for every direction.
    """
    if n < 1:
        raise MasError("a pair set needs at least one pair")
    if not adapters:
        raise MasError("no models to build pairs for")
    pool = tokenize_exact(tokenizer, texts, length)
    rng = np.random.default_rng(seed)

    def draw() -> torch.Tensor:
        return pool[torch.from_numpy(rng.choice(len(pool), size=n, replace=n > len(pool)))]

    sets: dict[tuple[int, int], PairSet] = {}
    for s, source in enumerate(adapters):
        source_tokens = draw()
        greedy = greedy_next(source, source_tokens, batch_size)
        for t in range(len(adapters)):
            sets[(s, t)] = _pairs(source_tokens, greedy, draw(), rng)
    return sets
