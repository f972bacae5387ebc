"""Stepwise counterfactual pairs for language models.

A pair joins a source prompt and a target prompt of exactly `length` tokens. At a step
t ~ U[10, L-10) the target's states at positions 0..t are replaced by the source's, and from t+1 on
the target reads the source's tokens. If the two models encode the prefix the same way, the target
should then continue as the source would: the labels at positions >= t are the source model's own
greedy next tokens on the source prompt. Labels depend on the source model, so each direction
(source, target) has its own pair set.

With `prompt_length` (the reference's protocol), every sequence is a model's own text: a prompt of
`prompt_length` tokens continued greedily by that model to `length` tokens. The source's sequence is
the source's continuation, the target's prefix the target's own, and the labels, the source's
greedy next tokens, are then the source's own continuation from the prompt on.
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


@torch.no_grad()
def greedy_continue(model: ModelAdapter, prompts: torch.Tensor, length: int, batch_size: int = 32) -> torch.Tensor:
    """`prompts` (N, P) continued by the model's own argmax next token to `length` tokens (N, length), on CPU."""
    if length < prompts.shape[1]:
        raise MasError(f"cannot continue {prompts.shape[1]}-token prompts to only {length} tokens")
    chunks = [model.continue_greedily(prompts[i: i + batch_size].to(model.device), length).cpu()
              for i in range(0, len(prompts), batch_size)]
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
    prompt_length: int | None = None,
) -> dict[tuple[int, int], PairSet]:
    """`n` pairs for each of the n_models² directions (s, t), all models sharing one tokenizer.

    Texts are tokenized once. Each source draws its prompts once and runs once for its greedy
    labels; the target prompts and the steps t are drawn afresh, independently, for every direction.
    With `prompt_length`, texts are cut to prompts of that many tokens and every drawn prompt is
    continued to `length` by the model whose sequence it becomes (see the module's docstring).
    """
    if n < 1:
        raise MasError("a pair set needs at least one pair")
    if not adapters:
        raise MasError("no models to build pairs for")
    if prompt_length is not None and not 0 < prompt_length <= length - MARGIN:
        raise MasError(f"prompts of {prompt_length} tokens leave no room to continue to {length} (margin {MARGIN})")
    pool = tokenize_exact(tokenizer, texts, length) if prompt_length is None else _prompts(tokenizer, texts, prompt_length)
    rng = np.random.default_rng(seed)

    def draw(model: ModelAdapter) -> torch.Tensor:
        drawn = pool[torch.from_numpy(rng.choice(len(pool), size=n, replace=n > len(pool)))]
        return drawn if prompt_length is None else greedy_continue(model, drawn, length, batch_size)

    sets: dict[tuple[int, int], PairSet] = {}
    for s, source in enumerate(adapters):
        source_tokens = draw(source)
        greedy = greedy_next(source, source_tokens, batch_size)
        for t, target in enumerate(adapters):
            sets[(s, t)] = _pairs(source_tokens, greedy, draw(target), rng)
    return sets


def _prompts(tokenizer: Tokenizer, texts: Sequence[str], prompt_length: int) -> torch.Tensor:
    """Prompts of exactly `prompt_length` tokens (texts that have that many)."""
    ids = tokenizer(list(texts), truncation=True, max_length=prompt_length)["input_ids"] if texts else []
    rows = [row for row in ids if len(row) == prompt_length]
    if not rows:
        raise MasError(f"none of the {len(ids)} texts has {prompt_length} tokens to prompt with")
    return torch.tensor(rows, dtype=torch.long)
