"""Multi-Object counting: BOS, n demo tokens from {D0, D1, D2} (and optional voids U), T, n R's, EOS."""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from mas.tasks.base import BOS, EOS, SPECIAL_TOKENS, CausalModel, State, pick

DEMO, RESPONSE = 0, 1


class MultiObject(CausalModel):
    """Count the demo tokens, then answer with as many R's.

    Variables: `count` (+1 per demo token, -1 per R) and `phase` (0 demo, 1 response). A void token U
    (probability `void_prob` per demo step) leaves the count alone, so position alone cannot count.
    """

    name: ClassVar[str] = "multi_object"
    variables: ClassVar[tuple[str, ...]] = ("count", "phase")
    demo_symbols: ClassVar[tuple[str, ...]] = ("D0", "D1", "D2")

    def __init__(self, max_count: int = 20, void_prob: float = 0.0) -> None:
        self.max_count = max_count
        self.void_prob = void_prob

    @property
    def vocab(self) -> tuple[str, ...]:
        return SPECIAL_TOKENS + self.demo_symbols + ("T", "R", "U")

    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        choices = list(counts) if counts is not None else list(range(1, self.max_count + 1))
        n = pick(rng, choices)
        demo_ids = [self.token(s) for s in self.demo_symbols]
        tokens = [BOS]
        placed = 0
        while placed < n:
            if self.void_prob > 0 and rng.random() < self.void_prob:
                tokens.append(self.token("U"))
            else:
                tokens.append(pick(rng, demo_ids))
                placed += 1
        tokens.append(self.token("T"))
        tokens += [self.token("R")] * n + [EOS]
        return tokens

    def initial_state(self) -> State:
        return {"count": 0, "phase": DEMO}

    def step(self, state: State, token: int) -> State:
        name = self.vocab[token]
        if name == "T":
            return {**state, "phase": RESPONSE}
        if name == "R":
            return {**state, "count": state["count"] - 1}
        if name in self.demo_symbols:
            return {**state, "count": state["count"] + 1}
        return dict(state)

    def emit(self, state: State) -> int | None:
        if state["phase"] == DEMO:
            return None
        return self.token("R") if state["count"] > 0 else EOS

    def fresh_input(self, state: State, rng: np.random.Generator, tokens: Sequence[int]) -> int:
        """A demo-phase state written after the target's trigger (a whole-state swap across phases) has
        no demo inputs left to replay: as in the reference, demo tokens follow until the count reaches
        the target's object count, then the trigger."""
        if state["phase"] != DEMO:
            return super().fresh_input(state, rng, tokens)
        if state["count"] < self.size(tokens):
            return pick(rng, [self.token(s) for s in self.demo_symbols])
        return self.token("T")

    def size(self, tokens: Sequence[int]) -> int:
        """The object count: demo tokens before the trigger."""
        trigger = self.token("T")
        end = tokens.index(trigger) if trigger in tokens else len(tokens)
        demo = {self.token(s) for s in self.demo_symbols}
        return sum(1 for t in tokens[:end] if t in demo)

    def matchable(self, tokens: Sequence[int], position: int) -> bool:
        """Not after BOS, EOS or the trigger (the reference's filter)."""
        return super().matchable(tokens, position) and tokens[position] != self.token("T")

    def intervenable(self, tokens: Sequence[int], position: int) -> bool:
        return 0 < position < len(tokens) - 1

    def value_range(self, variable: str) -> tuple[int, int]:
        return {"count": (0, self.max_count), "phase": (DEMO, RESPONSE)}[variable]
