"""A small task any sequence model can learn in seconds: answer the first token at the last position.

Its counterfactual pairs swap the state at position 0, so the base must then answer the source's
first token; DAS on a trained model finds that variable, untrained rotations do not.
"""

from collections.abc import Callable, Iterable

import torch

from mas.tasks.pairs import PairSet

VOCAB, LENGTH = 12, 5


def copy_tokens(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n, LENGTH), generator=torch.Generator().manual_seed(seed))


def train_copy(logits: Callable[[torch.Tensor], torch.Tensor], parameters: Iterable[torch.Tensor], steps: int = 300,
               seed: int = 0) -> float:
    """Train until the last position answers the first token; the accuracy reached on new sequences."""
    optimizer = torch.optim.Adam(list(parameters), lr=3e-3)
    for step in range(steps):
        tokens = copy_tokens(64, seed * 100_000 + step)
        loss = torch.nn.functional.cross_entropy(logits(tokens)[:, -1], tokens[:, 0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    held_out = copy_tokens(500, seed + 99)
    with torch.no_grad():
        return (logits(held_out)[:, -1].argmax(-1) == held_out[:, 0]).float().mean().item()


def copy_pairs(n: int, seed: int, position: int = 0) -> PairSet:
    """Swap the state at `position`; the base must then answer the source's first token."""
    source, base = copy_tokens(n, seed), copy_tokens(n, seed + 50_000)
    differ = source[:, 0] != base[:, 0]
    source, base = source[differ], base[differ]
    labels = torch.full_like(base, -100)
    labels[:, -1] = source[:, 0]
    at = torch.full((len(base), 1), position)
    return PairSet(source_tokens=source, tokens=base, labels=labels, source_positions=at, target_positions=at.clone())
