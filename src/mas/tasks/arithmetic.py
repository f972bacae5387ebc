"""Arithmetic: BOS, r, v, then r groups `op operand = result ,`, the last one ending in EOS instead.

r is the number of operations (tokens r1..r20) and v the start value (tokens 0..20, shared with
operands and results). The ops and operands are inputs; the task dictates `=`, the result and the
`,`/EOS after it.

Counterfactual continuations replay the original ops and operands. When `rem_ops` was raised past
them, fresh (op, operand) pairs are drawn that keep the value in range; when it was lowered, the
sequence ends early. A continuation is rejected (`continue_from` returns None) whenever a variable
leaves its range: an original operand that pushes the value outside 0..max_value, or `rem_ops` = 0
inside a group or before one starts (completing that group would make it -1).
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from mas.errors import MasError
from mas.tasks.base import BOS, EOS, SPECIAL_TOKENS, CausalModel, State, pick

PLUS, MINUS = 0, 1
OPS = ("+", "-")
# What the next token is: the grammar position, kept in the state but never swapped.
NEXT_REM, NEXT_VALUE, NEXT_OP, NEXT_OPERAND, NEXT_EQUALS, NEXT_RESULT, NEXT_SEP = range(7)


class Arithmetic(CausalModel):
    """A running sum over r additions/subtractions whose results stay in 0..max_value.

    Variables: `rem_ops` (groups not yet completed; -1 when a result is read), `value` (the running
    value; updated when `=` is read, so the result is emitted from it), `op` (0 for +, 1 for -) and
    `operand`. Size variable (what `counts` restricts): r.
    """

    name: ClassVar[str] = "arithmetic"
    variables: ClassVar[tuple[str, ...]] = ("rem_ops", "value", "op", "operand")
    # r is read from a token of its own (r1..r20): a held-out r would be a token whose embedding is
    # never trained, which no model can answer. Models are tested on fresh sequences instead.
    heldout_sizes: ClassVar[tuple[int, ...]] = ()

    def __init__(self, max_ops: int = 20, max_value: int = 20) -> None:
        self.max_ops = max_ops
        self.max_value = max_value
        self._vocab = (
            SPECIAL_TOKENS
            + tuple(f"r{r}" for r in range(1, max_ops + 1))
            + tuple(str(v) for v in range(max_value + 1))
            + OPS
            + ("=", ",")
        )

    @property
    def vocab(self) -> tuple[str, ...]:
        return self._vocab

    def _number(self, value: int) -> int:
        return self.token(str(value))

    def _decode(self, token: int, prefix: str = "") -> int:
        """The number a rem-ops token (prefix "r") or a value/operand token stands for."""
        name = self.vocab[token]
        digits = name[len(prefix) :]
        if not (name.startswith(prefix) and digits.isdigit()):
            kind = "rem-ops" if prefix else "number"
            raise MasError(f"{self.name}: expected a {kind} token, got {name!r}")
        return int(digits)

    def _draw_operand(self, value: int, op: int, rng: np.random.Generator) -> int:
        """An operand that keeps `value op operand` within 0..max_value."""
        high = self.max_value - value if op == PLUS else value
        return int(rng.integers(0, high + 1))

    def sample(self, rng: np.random.Generator, counts: Sequence[int] | None = None) -> list[int]:
        choices = list(counts) if counts is not None else list(range(1, self.max_ops + 1))
        r = pick(rng, choices)
        value = int(rng.integers(0, self.max_value + 1))
        tokens = [BOS, self.token(f"r{r}"), self._number(value)]
        for _ in range(r):
            op = int(rng.integers(2))
            operand = self._draw_operand(value, op, rng)
            value += operand if op == PLUS else -operand
            tokens += [self.token(OPS[op]), self._number(operand), self.token("="), self._number(value)]
            tokens.append(self.token(","))
        tokens[-1] = EOS
        return tokens

    def initial_state(self) -> State:
        return {"rem_ops": 0, "value": 0, "op": PLUS, "operand": 0, "slot": NEXT_REM}

    def step(self, state: State, token: int) -> State:
        slot = state["slot"]
        if slot == NEXT_REM:
            return {**state, "rem_ops": self._decode(token, "r"), "slot": NEXT_VALUE}
        if slot == NEXT_VALUE:
            return {**state, "value": self._decode(token), "slot": NEXT_OP}
        if slot == NEXT_OP:
            if self.vocab[token] not in OPS:
                raise MasError(f"{self.name}: expected + or -, got {self.vocab[token]!r}")
            return {**state, "op": OPS.index(self.vocab[token]), "slot": NEXT_OPERAND}
        if slot == NEXT_OPERAND:
            return {**state, "operand": self._decode(token), "slot": NEXT_EQUALS}
        if slot == NEXT_EQUALS:
            sign = 1 if state["op"] == PLUS else -1
            return {**state, "value": state["value"] + sign * state["operand"], "slot": NEXT_RESULT}
        if slot == NEXT_RESULT:
            return {**state, "rem_ops": state["rem_ops"] - 1, "slot": NEXT_SEP}
        return {**state, "slot": NEXT_OP}

    def emit(self, state: State) -> int | None:
        slot = state["slot"]
        if slot == NEXT_EQUALS:
            return self.token("=")
        if slot == NEXT_RESULT:
            return self._number(state["value"])
        if slot == NEXT_SEP:
            return self.token(",") if state["rem_ops"] > 0 else EOS
        return None

    def intervenable(self, tokens: Sequence[int], position: int) -> bool:
        return 0 < position < len(tokens) - 1

    def value_range(self, variable: str) -> tuple[int, int]:
        return {
            "rem_ops": (0, self.max_ops),
            "value": (0, self.max_value),
            "op": (PLUS, MINUS),
            "operand": (0, self.max_value),
        }[variable]

    def fresh_input(self, state: State, rng: np.random.Generator, tokens: Sequence[int]) -> int:
        """A random op, or an operand keeping the result in range, for groups past the original ones."""
        if state["slot"] == NEXT_OP:
            return self.token(OPS[int(rng.integers(2))])
        if state["slot"] == NEXT_OPERAND:
            return self._number(self._draw_operand(state["value"], state["op"], rng))
        return super().fresh_input(state, rng, tokens)
