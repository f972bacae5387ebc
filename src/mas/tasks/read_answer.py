"""A task of your own in a few lines: read some inputs, then answer from what was kept.

Many tasks have this shape: a sequence of inputs, a separator, the answer, EOS. A subclass of
`ReadThenAnswer` says only what a causal model of it needs:

- `input_tokens`, `answer_tokens`: the token names (the vocabulary is built from them);
- `max_inputs`: sequences hold 1 to `max_inputs` inputs (the task's size);
- `ranges`: its causal variables and the values each may hold;
- `start()`: the variables before any input; `read(state, token)`: after reading one more input;
- `answer(state)`: the answer tokens the variables determine.

An intervention overwrites variables after some input (or at the separator); the rest of the
inputs are then read on from the overwritten state and the answer follows from it. That is the
counterfactual continuation `mas.tasks.pairs.build_pairs` labels pairs with, so nothing else is
needed to build pairs, train task models and align them.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from mas.errors import MasError
from mas.tasks.base import BOS, EOS, SPECIAL_TOKENS, CausalModel, State, pick

SEPARATOR = "SEP"
READING, ANSWERING = 0, 1
BOOKKEEPING = {"read", "phase", "answered"}
MAX_ANSWER = 256  # the longest answer a continuation may produce (see `CausalModel.continue_from`)


class ReadThenAnswer(CausalModel):
    """BOS, 1..`max_inputs` inputs, SEP, the answer, EOS; the variables are the subclass's `ranges`.

    Beside them the causal model tracks `read` (inputs read so far, the task's size), `phase` and
    `answered` (answer tokens written): bookkeeping that interventions usually leave alone.
    """

    input_tokens: ClassVar[tuple[str, ...]]
    answer_tokens: ClassVar[tuple[str, ...]]
    max_inputs: ClassVar[int]
    ranges: ClassVar[dict[str, tuple[int, int]]]
    heldout_sizes: ClassVar[tuple[int, ...]] = ()  # trained models are tested on fresh sequences of every size

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "ranges" in cls.__dict__:
            taken = BOOKKEEPING & set(cls.ranges)
            if taken:
                raise MasError(f"task {cls.__name__}: {', '.join(sorted(taken))} is a variable every "
                               "ReadThenAnswer task tracks; name yours differently")
            cls.variables = ("read", *cls.ranges, "phase", "answered")

    @abstractmethod
    def start(self) -> State:
        """The task's variables before any input."""

    @abstractmethod
    def read(self, state: State, token: str) -> State:
        """The task's variables after reading input `token` (a new dict)."""

    @abstractmethod
    def answer(self, state: State) -> Sequence[str]:
        """The answer tokens that the variables determine."""

    def sample_inputs(self, rng: np.random.Generator, n: int) -> list[str]:
        """`n` inputs; uniform draws from `input_tokens` unless a subclass says otherwise."""
        return [self.input_tokens[int(i)] for i in rng.integers(len(self.input_tokens), size=n)]

    # ---- the causal model, from the above --------------------------------------------------------
    @property
    def vocab(self) -> tuple[str, ...]:
        names = (*self.input_tokens, SEPARATOR, *self.answer_tokens)
        return SPECIAL_TOKENS + tuple(dict.fromkeys(names))

    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        n = pick(rng, list(counts) if counts is not None else range(1, self.max_inputs + 1))
        tokens = [BOS, *(self.token(t) for t in self.sample_inputs(rng, n)), self.token(SEPARATOR)]
        state = self.trace(tokens)[-1]
        return tokens + [self.token(t) for t in self.answer(self._own(state))] + [EOS]

    def initial_state(self) -> State:
        return {"read": 0, **self.start(), "phase": READING, "answered": 0}

    def step(self, state: State, token: int) -> State:
        name = self.vocab[token]
        if state["phase"] == ANSWERING:
            return {**state, "answered": state["answered"] + 1}
        if name == SEPARATOR:
            return {**state, "phase": ANSWERING}
        return {**state, **self.read(self._own(state), name), "read": state["read"] + 1}

    def emit(self, state: State) -> int | None:
        if state["phase"] == READING:
            return None
        answer = self.answer(self._own(state))
        return self.token(answer[state["answered"]]) if state["answered"] < len(answer) else EOS

    def intervenable(self, tokens: Sequence[int], position: int) -> bool:
        """After each input and at the separator."""
        return 0 < position <= self.size(tokens) + 1

    def value_range(self, variable: str) -> tuple[int, int]:
        bookkeeping = {"read": (0, self.max_inputs), "phase": (READING, ANSWERING), "answered": (0, MAX_ANSWER)}
        return bookkeeping[variable] if variable in bookkeeping else self.ranges[variable]

    def size(self, tokens: Sequence[int]) -> int:
        """The number of inputs."""
        separator = self.token(SEPARATOR)
        return tokens.index(separator) - 1 if separator in tokens else len(tokens) - 1

    def _own(self, state: State) -> State:
        return {name: state[name] for name in self.ranges}
