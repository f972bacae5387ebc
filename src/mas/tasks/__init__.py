"""Numeric tasks as causal models, and the counterfactual pairs built from them."""

from __future__ import annotations

from mas.errors import MasError
from mas.tasks.arithmetic import Arithmetic
from mas.tasks.base import BOS, EOS, PAD, CausalModel
from mas.tasks.modulo import Modulo
from mas.tasks.multi_object import MultiObject
from mas.tasks.rounding import Rounding
from mas.tasks.same_object import SameObject

TASKS: dict[str, type[CausalModel]] = {
    MultiObject.name: MultiObject,
    SameObject.name: SameObject,
    Rounding.name: Rounding,
    Modulo.name: Modulo,
    Arithmetic.name: Arithmetic,
}


def make_task(name: str, **options: object) -> CausalModel:
    """Build a task by name (e.g. "multi_object"); options go to its constructor."""
    try:
        cls = TASKS[name.replace("-", "_")]
    except KeyError:
        raise MasError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
    return cls(**options)


__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "TASKS",
    "Arithmetic",
    "CausalModel",
    "Modulo",
    "MultiObject",
    "Rounding",
    "SameObject",
    "make_task",
]
