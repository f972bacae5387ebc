"""Modulo: like Multi-Object, but the answer is the count modulo 4 (0 to 3 R's)."""

from __future__ import annotations

from typing import ClassVar

from mas.tasks.rounding import TriggerRule


class Modulo(TriggerRule):
    """Answer with count mod 4 R's; a multiple of 4 is answered by EOS straight after T."""

    name: ClassVar[str] = "modulo"
    modulus: ClassVar[int] = 4

    def respond(self, count: int) -> int:
        return count % self.modulus
