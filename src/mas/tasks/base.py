"""The causal-model interface every numeric task implements.

A causal model is a small program that walks a token sequence, tracks the task's causal variables
after every token, and can continue a sequence after some of its variables were overwritten. That
last ability is what makes counterfactual labels: see `mas.tasks.pairs`.

Conventions: position i holds token i; "the state at i" is the variables after reading token i;
the model's prediction at i is the token at i + 1. A *task position* is a position whose next token
the task dictates (the model must produce it); every other next token is an input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from mas.errors import MasError

PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ("PAD", "BOS", "EOS")

State = dict[str, int]


def pick(rng: np.random.Generator, options: Sequence[int]) -> int:
    """One element of `options`, uniformly: the very draw `rng.choice(options)` makes (one bounded
    integer), without its array conversion, which was most of the cost of sampling pairs."""
    return int(options[int(rng.integers(len(options)))])


class CausalModel(ABC):
    """A task as a program over tokens. Subclasses fill in the abstract methods; the rest is shared."""

    name: ClassVar[str]
    variables: ClassVar[tuple[str, ...]]
    # Sizes never trained on, kept to test that a trained model generalises.
    heldout_sizes: ClassVar[tuple[int, ...]] = (4, 9, 14, 17)
    # The largest size (demo count) the task draws, for a task whose sizes are counted; None otherwise.
    # Training caps its sizes at it, and a cross-task source is narrowed by lowering it.
    max_count: int | None = None

    @property
    @abstractmethod
    def vocab(self) -> tuple[str, ...]:
        """Token names; PAD, BOS and EOS come first (ids 0, 1, 2)."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        """One full sequence, BOS to EOS. `counts` restricts the task's size variable to those values."""

    @abstractmethod
    def initial_state(self) -> State:
        """The variables after reading BOS."""

    @abstractmethod
    def step(self, state: State, token: int) -> State:
        """The variables after reading `token` in `state` (a new dict; `state` is not changed)."""

    @abstractmethod
    def emit(self, state: State) -> int | None:
        """The token the task demands next in `state`, or None when the next token is an input."""

    @abstractmethod
    def intervenable(self, tokens: Sequence[int], position: int) -> bool:
        """Whether the state at `position` may be a source or target of an intervention."""

    @abstractmethod
    def value_range(self, variable: str) -> tuple[int, int]:
        """The smallest and largest value `variable` may hold in a well-formed sequence."""

    def intervene(self, state: State) -> State:
        """The state once an intervention has written `state`: the task's own rule applied to the written values.

        Identity by default. A task whose rule rewrites a variable at some point (Modulo takes the
        count mod 4 at the trigger) applies it again to a state written after that point, so the
        counterfactual never asks for an answer the task could not give.
        """
        return dict(state)

    def fresh_input(self, state: State, rng: np.random.Generator, tokens: Sequence[int]) -> int:
        """An input token for `state` when a counterfactual continuation of `tokens` ran past their inputs."""
        raise MasError(f"task {self.name!r} cannot extend a sequence with new inputs")

    def size(self, tokens: Sequence[int]) -> int | None:
        """The size a full sequence was drawn with (the object count of a counting task), or None for a
        task without one. Recorded states are matched on it, beside the causal variables."""
        return None

    def matchable(self, tokens: Sequence[int], position: int) -> bool:
        """Whether the state after `tokens[position]` may stand for a causal state when recorded latents
        are matched; not after BOS or EOS, whose states carry no count the model computed."""
        return tokens[position] not in (BOS, EOS)

    # ---- shared machinery ----------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token(self, name: str) -> int:
        return self.vocab.index(name)

    def trace(self, tokens: Sequence[int]) -> list[State]:
        """The state after every token; `tokens[0]` must be BOS."""
        if not tokens or tokens[0] != BOS:
            raise MasError(f"{self.name}: a sequence must start with BOS")
        states = [self.initial_state()]
        for token in tokens[1:]:
            states.append(self.step(states[-1], token))
        return states

    def task_mask(self, tokens: Sequence[int]) -> list[bool]:
        """mask[i] is True where the prediction at i (of token i + 1) is dictated by the task."""
        states = self.trace(tokens)
        return [i + 1 < len(tokens) and self.emit(s) is not None for i, s in enumerate(states)]

    def intervened_task_mask(self, tokens: Sequence[int], position: int, state: State) -> list[bool]:
        """`task_mask` of a sequence whose state at `position` was overwritten with `state`: from there on the
        states are traced from `state`, so a swapped phase decides which positions the task dictates."""
        mask = self.task_mask(tokens)[:position]
        for i in range(position, len(tokens)):
            mask.append(i + 1 < len(tokens) and self.emit(state) is not None)
            if i + 1 < len(tokens):
                state = self.step(state, tokens[i + 1])
        return mask

    def targets_match(self, tokens: Sequence[int]) -> bool:
        """Whether every task position of `tokens` holds what the causal model demands."""
        states = self.trace(tokens)
        return all(
            self.emit(states[i]) in (None, tokens[i + 1]) for i in range(len(tokens) - 1)
        ) and tokens[-1] == EOS

    def in_range(self, state: State) -> bool:
        return all(lo <= state[v] <= hi for v in self.variables for lo, hi in [self.value_range(v)])

    def continue_from(
        self,
        tokens: Sequence[int],
        position: int,
        state: State,
        rng: np.random.Generator | None = None,
        max_length: int = 256,
    ) -> list[int] | None:
        """tokens[:position + 1], then what the task produces from `state` on, reusing the original inputs.

        Inputs (tokens the task does not dictate) after `position` are replayed in their original order;
        task tokens are generated. Returns None when a variable leaves its range on the way.
        """
        remaining = [
            tokens[j + 1]
            for j, s in enumerate(self.trace(tokens)[:-1])
            if j >= position and self.emit(s) is None
        ]
        out = list(tokens[: position + 1])
        while len(out) < max_length:
            if not self.in_range(state):
                return None
            demanded = self.emit(state)
            if demanded is None:
                if remaining:
                    demanded = remaining.pop(0)
                elif rng is not None:
                    demanded = self.fresh_input(state, rng, tokens)
                else:
                    raise MasError(f"{self.name}: continuation ran out of inputs")
            out.append(demanded)
            if demanded == EOS:
                return out
            state = self.step(state, demanded)
        raise MasError(f"{self.name}: continuation longer than {max_length} tokens")
