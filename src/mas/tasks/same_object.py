"""Same-Object counting: BOS, n D's (and optional voids U), T, n D's, EOS.

The demo symbol is also the response symbol, so a model cannot tell the phases apart by token
identity alone: it has to remember that T was seen.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from mas.tasks.base import BOS, EOS, SPECIAL_TOKENS, State
from mas.tasks.multi_object import DEMO, MultiObject


class SameObject(MultiObject):
    """Count the D's before T, then answer with as many D's.

    Variables as in Multi-Object: `count` (+1 per demo D, -1 per response D) and `phase`.
    """

    name: ClassVar[str] = "same_object"
    demo_symbols: ClassVar[tuple[str, ...]] = ("D",)

    @property
    def vocab(self) -> tuple[str, ...]:
        return SPECIAL_TOKENS + ("D", "T", "U")

    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        choices = list(counts) if counts is not None else list(range(1, self.max_count + 1))
        n = int(rng.choice(choices))
        d, void = self.token("D"), self.token("U")
        tokens = [BOS]
        placed = 0
        while placed < n:
            if self.void_prob > 0 and rng.random() < self.void_prob:
                tokens.append(void)
            else:
                tokens.append(d)
                placed += 1
        return tokens + [self.token("T")] + [d] * n + [EOS]

    def step(self, state: State, token: int) -> State:
        if token == self.token("D"):
            delta = 1 if state["phase"] == DEMO else -1
            return {**state, "count": state["count"] + delta}
        return super().step(state, token)

    def emit(self, state: State) -> int | None:
        if state["phase"] == DEMO:
            return None
        return self.token("D") if state["count"] > 0 else EOS
