"""Same-Object counting: BOS, n D's (and optional voids U), T, n D's, EOS.

The demo symbol is also the response symbol, so a model cannot tell the phases apart by token
identity alone: it has to remember that T was seen.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from mas.tasks.base import BOS, EOS, SPECIAL_TOKENS, State, pick
from mas.tasks.multi_object import DEMO, RESPONSE, MultiObject


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
        n = pick(rng, choices)
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


class SeparateCounts(SameObject):
    """Candidate: a demo count and a response count held apart; the answer ends when they are equal.

    Unlike `SameObject`, the demo count survives the trigger, so an intervention on it in the
    response phase changes how many D's are still to come by its difference from the response count.
    """

    variables: ClassVar[tuple[str, ...]] = ("demo", "response", "phase")

    def initial_state(self) -> State:
        return {"demo": 0, "response": 0, "phase": DEMO}

    def step(self, state: State, token: int) -> State:
        if token == self.token("D"):
            key = "demo" if state["phase"] == DEMO else "response"
            return {**state, key: state[key] + 1}
        if token == self.token("T"):
            return {**state, "phase": RESPONSE}
        return dict(state)

    def emit(self, state: State) -> int | None:
        if state["phase"] == DEMO:
            return None
        return self.token("D") if state["response"] < state["demo"] else EOS

    def value_range(self, variable: str) -> tuple[int, int]:
        return (DEMO, RESPONSE) if variable == "phase" else (0, self.max_count)


class RemainingCount(SameObject):
    """Candidate: a demo count while reading; at T a separate `remaining` count takes its value and falls.

    The demo count is frozen after the trigger and `remaining` is 0 before it, so each variable acts
    in one phase only: an intervention on the other phase's variable changes nothing.
    """

    variables: ClassVar[tuple[str, ...]] = ("demo", "remaining", "phase")

    def initial_state(self) -> State:
        return {"demo": 0, "remaining": 0, "phase": DEMO}

    def step(self, state: State, token: int) -> State:
        if token == self.token("T"):
            return {**state, "remaining": state["demo"], "phase": RESPONSE}
        if token == self.token("D"):
            if state["phase"] == DEMO:
                return {**state, "demo": state["demo"] + 1}
            return {**state, "remaining": state["remaining"] - 1}
        return dict(state)

    def emit(self, state: State) -> int | None:
        if state["phase"] == DEMO:
            return None
        return self.token("D") if state["remaining"] > 0 else EOS

    def value_range(self, variable: str) -> tuple[int, int]:
        return (DEMO, RESPONSE) if variable == "phase" else (0, self.max_count)


# Causal models that produce exactly the Same-Object sequences, by name (the task itself is "rise_fall").
CAUSAL_MODELS: dict[str, type[SameObject]] = {
    "rise_fall": SameObject,
    "separate": SeparateCounts,
    "remaining": RemainingCount,
}

# Candidate causal variables of Same-Object sequences: (causal model, variable) by "model.variable".
CANDIDATES: dict[str, tuple[type[SameObject], str]] = {
    f"{name}.{variable}": (cls, variable)
    for name, cls in CAUSAL_MODELS.items()
    for variable in cls.variables
    if variable != "phase"
}
