"""Recorded states as a causal model: each row of a recording is a one-token "sequence".

A system we can only record from (a brain area, a closed model) gives states and, per state, the
values of the causal variables. Seen as a causal model, token r + 1 stands for recorded row r (0 is
padding) and its trace is that row's values, so the pair builders and counterfactual-latent
matching that serve the tasks serve recordings too. A recording cannot continue a sequence: a pair
into it keeps its base row, and what the row should become is found among the recorded rows.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from mas.errors import MasError
from mas.tasks.base import CausalModel, State


class RecordedRows(CausalModel):
    """Rows `rows` of a recording whose variables hold `labels[variable][row]`."""

    name = "recording"

    def __init__(self, labels: Mapping[str, np.ndarray], rows: np.ndarray) -> None:
        if len(rows) == 0:
            raise MasError("a recording needs at least one row to draw from")
        self.labels = {v: np.asarray(values) for v, values in labels.items()}
        self.variables = tuple(self.labels)  # type: ignore[misc]
        self.rows = np.asarray(rows)

    @property
    def vocab(self) -> tuple[str, ...]:
        return ("PAD",)  # rows have no names; ids are rows + 1

    def state_of(self, token: int) -> State:
        return {v: int(values[token - 1]) for v, values in self.labels.items()}

    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        return [int(self.rows[rng.integers(len(self.rows))]) + 1]

    def trace(self, tokens: Sequence[int]) -> list[State]:
        return [self.state_of(int(t)) for t in tokens]

    def initial_state(self) -> State:
        raise MasError("a recording has no initial state")

    def step(self, state: State, token: int) -> State:
        raise MasError("a recording cannot be stepped")

    def emit(self, state: State) -> int | None:
        return None

    def intervenable(self, tokens: Sequence[int], position: int) -> bool:
        return True

    def value_range(self, variable: str) -> tuple[int, int]:
        values = self.labels[variable][self.rows]
        return int(values.min()), int(values.max())

    def task_mask(self, tokens: Sequence[int]) -> list[bool]:
        return [False] * len(tokens)

    def continue_from(
        self,
        tokens: Sequence[int],
        position: int,
        state: State,
        rng: np.random.Generator | None = None,
        max_length: int = 256,
    ) -> list[int] | None:
        """The base row itself when `state` differs from its own values (nothing to do otherwise)."""
        return None if state == self.trace(tokens)[position] else list(tokens)
