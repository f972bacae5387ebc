"""MAS between models trained on different tasks: does one model's count work inside another's?

Each model carries one or more causal variables (e.g. its whole state, count and phase), by
default its task's size variable (`count`, or Arithmetic's `rem_ops`), of one causal model of its task's sequences, by default the task itself
(Same-Object's GRUs are better described by a "remaining" count; see `mas.tasks.CAUSAL_MODELS`).
Direction (s, t) gets its own pairs: the source values from s's causal model, counterfactual
sequences from t's causal model after t's variables take s's values (the i-th of s's variables
into the i-th of t's). With one model this is DAS.

Ranges: a source value the target's variable cannot hold (Rounding answers 20 demo tokens with 21
R's; Multi-Object's count stops at 20) would make labels the target task cannot express. When only
a rule's answers overflow, the source samples fewer demo tokens instead (Rounding sources use
1..19 demo tokens, so values 0..19); the source range used is reported per direction. Any other
misfit, or a variable a task lacks, is a one-line MasError.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, Field

from mas.align import AlignConfig, AlignmentTrainer, Direction, all_directions, direction_key
from mas.errors import MasError
from mas.evaluate import evaluate_iia, scores_json
from mas.experiments.alignment import load_task_models
from mas.models.checkpoint import TaskModelConfig
from mas.tasks import CausalModel, make_causal_model
from mas.tasks.pairs import PairSet, build_pairs

SPLITS = ("train", "validation", "test")


class CrossTaskJob(BaseModel):
    """Models (any tasks), the variable each carries, and how to align them."""

    models: list[Path] = Field(min_length=1)
    variables: list[list[str]] | None = Field(
        None, description="per model, the variables it carries (as many for every model); default each causal "
        "model's first variable",
    )
    causal_models: list[str | None] | None = Field(
        None, description="one per model: a name in mas.tasks.CAUSAL_MODELS[task], or null for the task's own; "
        "default the task's own for every model",
    )
    site: str = "hidden"
    mode: Literal["single", "stepwise"] = "single"
    train_pairs: int = Field(2048, ge=1)
    validation_pairs: int = Field(256, ge=1)
    test_pairs: int = Field(500, ge=1)
    align: AlignConfig = Field(default_factory=AlignConfig)


def _fits(source: CausalModel, target: CausalModel, s_vars: Sequence[str], t_vars: Sequence[str]) -> bool:
    for s_var, t_var in zip(s_vars, t_vars):
        s_lo, s_hi = source.value_range(s_var)
        t_lo, t_hi = target.value_range(t_var)
        if s_lo < t_lo or s_hi > t_hi:
            return False
    return True


def fitted_source(source: CausalModel, target: CausalModel, s_vars: Sequence[str], t_vars: Sequence[str]) -> CausalModel:
    """`source`, sampling fewer demo tokens when only its rule's answers overflow `t_vars`' ranges.

    A source whose own largest count already overflows the first (size) variable is returned
    unchanged, so that `build_pairs` names the misfit.
    """
    if len(s_vars) != len(t_vars):
        raise MasError(f"{source.name} carries {len(s_vars)} variables but {target.name} {len(t_vars)}")
    for task, names in ((source, s_vars), (target, t_vars)):
        for var in names:
            if var not in task.variables:
                raise MasError(f"task {task.name!r} has no variable {var!r} (has {', '.join(task.variables)})")
    size_range = target.value_range(t_vars[0])  # the first variable is the size one (count, rem_ops)
    largest = source.max_count
    if _fits(source, target, s_vars, t_vars) or largest is None or largest > size_range[1]:
        return source
    narrowed = copy.copy(source)
    while not _fits(narrowed, target, s_vars, t_vars) and narrowed.max_count > 1:
        narrowed.max_count -= 1
    return narrowed


def direction_pairs(
    source: CausalModel, target: CausalModel, s_vars: Sequence[str], t_vars: Sequence[str], job: CrossTaskJob,
    seed: tuple[int, ...],
) -> tuple[dict[str, PairSet], str]:
    """Train, validation and test pairs for one direction (independent seeds), and the values its first
    variable takes in the source."""
    fitted = fitted_source(source, target, s_vars, t_vars)
    sizes = (job.train_pairs, job.validation_pairs, job.test_pairs)
    mapping = dict(zip(s_vars, t_vars))
    pairs = {
        split: build_pairs(fitted, target, n, mapping, job.mode, seed=_seed(*seed, i))
        for i, (split, n) in enumerate(zip(SPLITS, sizes))
    }
    lo, hi = fitted.value_range(s_vars[0])
    return pairs, f"{lo}..{hi}"


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([p + 1 for p in parts]).generate_state(1)[0])


def causal_models(job: CrossTaskJob, configs: list[TaskModelConfig]) -> list[CausalModel]:
    """Each model's causal model, with its task's options: the one `job` names for it, else its task's own."""
    names = job.causal_models or [None] * len(configs)
    if len(names) != len(configs):
        raise MasError(f"{len(configs)} models but {len(names)} causal models")
    return [make_causal_model(c.task, name, **c.task_options) for c, name in zip(configs, names)]


def run_cross_task(job: CrossTaskJob, show_progress: bool = True) -> dict:
    """Train one rotation per model on every direction, then score each direction on held-out pairs."""
    start = time.perf_counter()
    adapters, configs = load_task_models(job.models)
    tasks = causal_models(job, configs)
    variables = job.variables or [[t.variables[0]] for t in tasks]
    if len(variables) != len(tasks):
        raise MasError(f"{len(tasks)} models but {len(variables)} variables")
    directions: list[Direction] = all_directions(len(adapters))
    pairs: dict[Direction, dict[str, PairSet]] = {}
    source_range: dict[str, str] = {}
    for s, t in directions:
        seed = (job.align.seed, s, t)
        pairs[(s, t)], source_range[direction_key((s, t))] = direction_pairs(
            tasks[s], tasks[t], variables[s], variables[t], job, seed
        )
    trainer = AlignmentTrainer(adapters, [job.site] * len(adapters), job.align)
    split = {name: {d: p[name] for d, p in pairs.items()} for name in SPLITS}
    fit = trainer.fit(split["train"], split["validation"], show_progress=show_progress)
    scores = evaluate_iia(trainer, fit.rotations, split["test"])
    return {
        "models": [a.name for a in adapters],
        "tasks": [c.task for c in configs],
        "causal_models": job.causal_models or [None] * len(tasks),
        "variables": variables,
        "iia": scores_json(scores),
        "token_iia": scores_json(scores, "token"),
        "source_range": source_range,
        "steps": fit.steps,
        "stop_reason": fit.stop_reason,
        "seconds": round(time.perf_counter() - start, 2),
    }
