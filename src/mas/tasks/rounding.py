"""Rounding: like Multi-Object, but the answer is the count rounded to the nearest multiple of 3.

Also home of `TriggerRule`, the shared shape of every Multi-Object variant whose count is rewritten
by a fixed rule when the trigger T is read (Rounding here, Modulo in `mas.tasks.modulo`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from mas.tasks.base import EOS, State
from mas.tasks.multi_object import RESPONSE, MultiObject


class TriggerRule(MultiObject):
    """Multi-Object whose count becomes `respond(count)` at T; the answer has that many R's.

    Interventions in the demo phase therefore pass through the rule, while interventions in the
    response phase set the number of R's still to come directly (Modulo's `intervene` takes that
    number mod 4 again).

    No demo size is held out: the rule's answer at a size never trained on is not what its
    neighbours' answers suggest (Rounding answers 4 with 3 R's and 5 with 6; Modulo answers 4 with
    none), so no model could infer it. Models are tested on fresh sequences instead.
    """

    heldout_sizes: ClassVar[tuple[int, ...]] = ()

    @abstractmethod
    def respond(self, count: int) -> int:
        """The number of R's answered after `count` demo tokens."""

    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        tokens = super().sample(rng, counts)
        trigger = tokens.index(self.token("T"))
        n = len(tokens) - trigger - 2
        return tokens[: trigger + 1] + [self.token("R")] * self.respond(n) + [EOS]

    def step(self, state: State, token: int) -> State:
        if token == self.token("T"):
            return {"count": self.respond(state["count"]), "phase": RESPONSE}
        return super().step(state, token)

    def value_range(self, variable: str) -> tuple[int, int]:
        """`count` covers both the demo counts and every answer the rule can give for them."""
        if variable == "count":
            return 0, max(self.max_count, *(self.respond(c) for c in range(self.max_count + 1)))
        return super().value_range(variable)


class Rounding(TriggerRule):
    """Answer with round(count / 3) * 3 R's, e.g. 1 -> 0 (EOS straight after T), 2 -> 3, 20 -> 21.

    No tie-breaking rule is needed: count / 3 has fractional part 0, 1/3 or 2/3 for an integer count,
    never 1/2, so floor(count / 3 + 1/2) is the unique nearest integer. With the default
    max_count = 20 the count ranges over 0..21.
    """

    name: ClassVar[str] = "rounding"

    def respond(self, count: int) -> int:
        return 3 * ((count + 1) // 3)  # floor(count / 3 + 1/2) * 3 in integer arithmetic
