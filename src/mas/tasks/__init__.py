"""Numeric tasks as causal models, and the counterfactual pairs built from them."""

from __future__ import annotations

from mas.errors import MasError
from mas.tasks.arithmetic import Arithmetic
from mas.tasks.base import BOS, EOS, PAD, CausalModel
from mas.tasks.modulo import Modulo
from mas.tasks.multi_object import MultiObject
from mas.tasks.read_answer import ReadThenAnswer
from mas.tasks.rounding import Rounding
from mas.tasks.same_object import CAUSAL_MODELS as SAME_OBJECT_MODELS
from mas.tasks.same_object import SameObject

TASKS: dict[str, type[CausalModel]] = {
    MultiObject.name: MultiObject,
    SameObject.name: SameObject,
    Rounding.name: Rounding,
    Modulo.name: Modulo,
    Arithmetic.name: Arithmetic,
}

# Other causal models that produce a task's sequences exactly, by task and name: a trained model
# may be better described by one of them than by the task's own (see `mas same-object-study`).
CAUSAL_MODELS: dict[str, dict[str, type[CausalModel]]] = {SameObject.name: dict(SAME_OBJECT_MODELS)}


def register_task(cls: type[CausalModel]) -> type[CausalModel]:
    """Make a task of your own known by its `name` to `make_task`, and so to training and checkpoints
    in this process; usable as a class decorator. A name already taken by another task is refused."""
    known = TASKS.get(cls.name)
    if known is not None and known is not cls:
        raise MasError(f"a task named {cls.name!r} exists already ({known.__module__}.{known.__name__})")
    TASKS[cls.name] = cls
    return cls


def make_task(name: str, **options: object) -> CausalModel:
    """Build a task by name (e.g. "multi_object"); options go to its constructor."""
    try:
        cls = TASKS[name.replace("-", "_")]
    except KeyError:
        raise MasError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
    return cls(**options)


def make_causal_model(task: str, causal_model: str | None = None, **options: object) -> CausalModel:
    """Task `task`'s causal model named `causal_model` (one of `CAUSAL_MODELS[task]`), or the task's own for None."""
    if causal_model is None:
        return make_task(task, **options)
    known = CAUSAL_MODELS.get(task.replace("-", "_"), {})
    if causal_model not in known:
        others = ", ".join(known) or "none besides its own"
        raise MasError(f"task {task!r} has no causal model {causal_model!r}; it has {others}")
    return known[causal_model](**options)


__all__ = [
    "BOS",
    "CAUSAL_MODELS",
    "EOS",
    "PAD",
    "TASKS",
    "Arithmetic",
    "CausalModel",
    "Modulo",
    "MultiObject",
    "ReadThenAnswer",
    "Rounding",
    "SameObject",
    "make_causal_model",
    "make_task",
    "register_task",
]
