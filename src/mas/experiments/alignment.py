"""The main job: compare task models causally with MAS and write a run folder.

A run folder holds `results.json` (IIA per direction, the n×n matrix, the random-rotation control,
timings, the full configuration), `rotations.safetensors` and `iia.png`. It appears only when the
run succeeded.
"""

from __future__ import annotations

import time
from os import PathLike
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mas.adapters import TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, Direction, all_directions, direction_key
from mas.devices import model_device
from mas.errors import MasError
from mas.evaluate import evaluate_iia, iia_matrix, random_rotation_control, scores_json
from mas.io import write_json
from mas.models import TaskModelConfig, load_checkpoint
from mas.plots import iia_heatmap
from mas.run_folder import staged_folder
from mas.tasks import CausalModel
from mas.tasks.pairs import PairSet, build_pairs


class AlignmentJob(BaseModel):
    """Which models, where, and how: everything a run needs, saved beside its results."""

    models: list[Path] = Field(min_length=1)
    sites: list[str]
    directions: list[tuple[int, int]] | None = None
    variable: str = "count"
    mode: Literal["single", "stepwise"] = "single"
    train_pairs: int = Field(4096, ge=1)
    validation_pairs: int = Field(256, ge=1)
    test_pairs: int = Field(1000, ge=1)
    align: AlignConfig = Field(default_factory=AlignConfig)


def load_task_models(paths: list[Path]) -> tuple[list[TaskModelAdapter], list[TaskModelConfig]]:
    """Each model on the device the command gives it (`mas.devices.model_device`)."""
    if isinstance(paths, (str, PathLike)) or not paths:
        raise MasError(f"paths must be a non-empty list of model folders, got {paths!r}")
    loaded = [load_checkpoint(p) for p in paths]
    adapters = [TaskModelAdapter(model, name=Path(p).name, device=model_device(i))
                for i, (p, (model, _)) in enumerate(zip(paths, loaded))]
    return adapters, [cfg for _, cfg in loaded]


def shared_task(configs: list[TaskModelConfig]) -> CausalModel:
    """The task all models were trained on; pairs use the first model's task options (e.g. no voids)."""
    names = {c.task for c in configs}
    if len(names) > 1:
        raise MasError(f"models were trained on different tasks ({', '.join(sorted(names))}); align needs one task")
    return configs[0].build_task()


def pair_sets(task: CausalModel, job: AlignmentJob) -> tuple[PairSet, PairSet, PairSet]:
    """Training, validation and test pairs, from independent seeds so the test pairs are held out."""
    mapping = {job.variable: job.variable}
    seed = job.align.seed * 3
    return tuple(  # type: ignore[return-value]
        build_pairs(task, task, n, mapping, job.mode, seed=seed + i)
        for i, n in enumerate((job.train_pairs, job.validation_pairs, job.test_pairs))
    )


def run_alignment(job: AlignmentJob, out: Path, show_progress: bool = True) -> dict:
    """Train rotations, score every direction on held-out pairs, beside a never-trained control."""
    start = time.perf_counter()
    adapters, configs = load_task_models(job.models)
    sites = job.sites * len(adapters) if len(job.sites) == 1 else job.sites
    directions: list[Direction] = [tuple(d) for d in job.directions] if job.directions else all_directions(len(adapters))
    for s, t in directions:
        if not (0 <= s < len(adapters) and 0 <= t < len(adapters)):
            raise MasError(f"direction {s}->{t} names a model that is not there ({len(adapters)} models)")
    trainer = AlignmentTrainer(adapters, sites, job.align)
    train, validation, test = pair_sets(shared_task(configs), job)
    fit = trainer.fit({d: train for d in directions}, {d: validation for d in directions}, show_progress=show_progress)
    scores = evaluate_iia(trainer, fit.rotations, {d: test for d in directions})
    control = random_rotation_control(trainer, {d: test for d in directions}, seed=job.align.seed + 10_000)
    labels = [a.name for a in adapters]
    results = {
        "models": labels,
        "sites": sites,
        "k": job.align.k,
        "iia": scores_json(scores),
        "token_iia": scores_json(scores, "token"),
        "iia_matrix": iia_matrix(scores, len(adapters)),
        "control": scores_json(control),
        "control_iia": max(s.trial for s in control.values()),
        "steps": fit.steps,
        "train_seconds": round(fit.seconds, 2),
        "seconds": round(time.perf_counter() - start, 2),
        "history": fit.history,
        "job": job.model_dump(mode="json"),
    }
    with staged_folder(out, "align", job) as folder:
        fit.rotations.save(folder / "rotations.safetensors")
        write_json(folder / "results.json", results)
        title = f"MAS IIA, {'/'.join(dict.fromkeys(sites))}, k={job.align.k}"
        iia_heatmap(results["iia_matrix"], labels, folder / "iia.png", title=title)
    return results


__all__ = ["AlignmentJob", "direction_key", "load_task_models", "run_alignment", "shared_task"]
