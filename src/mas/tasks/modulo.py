"""Modulo: like Multi-Object, but the answer is the count modulo 4 (0 to 3 R's)."""

from __future__ import annotations

from typing import ClassVar

from mas.tasks.base import State
from mas.tasks.multi_object import RESPONSE
from mas.tasks.rounding import TriggerRule


class Modulo(TriggerRule):
    """Answer with count mod 4 R's; a multiple of 4 is answered by EOS straight after T."""

    name: ClassVar[str] = "modulo"
    modulus: ClassVar[int] = 4

    def respond(self, count: int) -> int:
        return count % self.modulus

    def intervene(self, state: State) -> State:
        """A count written in the response phase is taken mod 4 again, as the reference's causal model does:
        a Modulo model never answers with more than 3 R's, whatever count it is handed."""
        if state["phase"] == RESPONSE:
            return {**state, "count": self.respond(state["count"])}
        return dict(state)
