"""Which directions a training step uses: all of them, or a sampled set whose cost is linear in n.

With n models there are n² directions (s, t). Training all of them every step costs n² passes of the
targets; a population of models needs the linear cost that one rotation per model promises. The
derangement sampler draws a random order π of the models and walks the n shifts r in random order:
shift r trains the directions (π(i), π(i + r mod n)) for every i, so each model is the source of one
direction and the target of one (r = 0 is every model into itself). The n shifts of one order cover
all n² directions, so a step costs n passes and every direction is trained at least once in any
2n − 1 consecutive steps (a new order is drawn after every n steps).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Literal

import torch

from mas.align.maps import Direction

DirectionSampling = Literal["all", "derangement"]


class DirectionSampler:
    """An endless seeded stream of direction sets, each a subset of `directions`.

    "all" yields every direction at every step. "derangement" yields one shift of a random order per
    step (see the module docstring), keeping only the directions asked for and skipping shifts that
    keep none, so a run over a subset (e.g. only the directions into and out of one new model) also
    costs one pass per model it touches.
    """

    def __init__(self, directions: Collection[Direction], sampling: DirectionSampling = "all", seed: int = 0) -> None:
        self.directions = list(dict.fromkeys(directions))  # "all" keeps the caller's order
        self.sampling = sampling
        self.n = 1 + max((max(d) for d in self.directions), default=-1)
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[list[Direction]]:
        if self.sampling == "all" or not self.directions:
            while True:
                yield list(self.directions)
        wanted = set(self.directions)
        while True:
            order = torch.randperm(self.n, generator=self.generator).tolist()
            for shift in torch.randperm(self.n, generator=self.generator).tolist():
                chosen = [(order[i], order[(i + shift) % self.n]) for i in range(self.n)]
                kept = sorted(d for d in chosen if d in wanted)
                if kept:
                    yield kept
