"""CLMAS with a recording as the inaccessible model: `mas clmas --recordings STATES --labels LABELS MODEL`.

Model 0 is the recording (states and the causal variables' values per row), model 1 a task model
we can run. As in figure 3a's CLMAS, behaviour is trained into the model we can run (DAS on it, and
Access: recorded states written into it), and the counterfactual-latent loss stands in for behaviour
into the recording (No Access, and recording into recording): the state written into a recorded
row must be a recorded state with the counterfactual values. Recorded rows are split once into
training rows and held-out rows; Access IIA is scored on held-out rows only.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from mas.adapters.base import ModelAdapter
from mas.adapters.recording import SITE, Recording, RecordingAdapter, load_recording
from mas.align import (
    AlignConfig,
    AlignmentTrainer,
    Direction,
    FitResult,
    LatentBank,
    LatentPairs,
    Rotations,
    attach_latents,
)
from mas.errors import MasError
from mas.evaluate import evaluate_iia, scores_json
from mas.experiments.alignment import load_task_models
from mas.io import write_json
from mas.run_folder import staged_folder
from mas.tasks import CausalModel
from mas.tasks.pairs import PairSet, build_pairs
from mas.tasks.recorded import RecordedRows

RECORDED, MODEL = 0, 1


class RecordedCLMASJob(BaseModel):
    """Everything a recordings-only CLMAS run needs; saved beside its results."""

    states: Path
    labels: Path
    model: Path
    site: str = "hidden"
    variable: str = "count"
    train_pairs: int = Field(2048, ge=1)
    test_pairs: int = Field(500, ge=1)
    test_share: float = Field(0.2, gt=0, lt=1, description="share of recorded rows held out for scoring")
    align: AlignConfig = Field(default_factory=lambda: AlignConfig(k=32, steps=250))


def split_rows(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint training and held-out row indices of a recording."""
    order = np.random.default_rng([seed, 43]).permutation(n)
    cut = int(round(n * (1 - share)))
    if cut < 1 or cut >= n:
        raise MasError(f"cannot hold out a share {share} of {n} recorded rows and keep some for training")
    return np.sort(order[:cut]), np.sort(order[cut:])


def recorded_bank(recording: Recording, rows: RecordedRows) -> LatentBank:
    """Every row of `rows` as a counterfactual latent, keyed by its variables' values."""
    index: dict[tuple[int, ...], list[int]] = {}
    for r in rows.rows.tolist():
        index.setdefault(tuple(int(rows.labels[v][r]) for v in rows.variables), []).append(r)
    return LatentBank(recording.states, index, rows.variables)


def check_variable(recording: Recording, task: CausalModel, variable: str) -> None:
    for where, names in (("the labels", tuple(recording.labels)), (f"task {task.name!r}", task.variables)):
        if variable not in names:
            raise MasError(f"{where} have no variable {variable!r} (have {', '.join(names)})")


def clmas_training(
    recording: Recording, rows: RecordedRows, task: CausalModel, mapping: dict[str, str], n: int, seed: int
) -> tuple[dict[Direction, PairSet], dict[Direction, LatentPairs]]:
    """Behavioural pairs into the model (DAS and Access) and latent-matched pairs into the recording."""
    bank = recorded_bank(recording, rows)
    behaviour = {
        (MODEL, MODEL): build_pairs(task, task, n, mapping, seed=seed),
        (RECORDED, MODEL): build_pairs(rows, task, n, mapping, seed=seed + 1),
    }
    into_recording = {
        (MODEL, RECORDED): build_pairs(task, rows, n, mapping, seed=seed + 2, require_change=False),
        (RECORDED, RECORDED): build_pairs(rows, rows, n, mapping, seed=seed + 3, require_change=False),
    }
    latents = {
        (s, t): attach_latents(pairs, bank, task if s == MODEL else rows, rows, mapping, seed)
        for (s, t), pairs in into_recording.items()
    }
    return behaviour, latents


def fit_recorded_clmas(
    recording: Recording, model: ModelAdapter, site: str, task: CausalModel, job: RecordedCLMASJob,
    show_progress: bool = True,
) -> tuple[AlignmentTrainer, FitResult, dict[Direction, PairSet]]:
    """Train the rotations from the recording's training rows; return held-out pairs to score on."""
    check_variable(recording, task, job.variable)
    mapping = {job.variable: job.variable}
    seed = job.align.seed
    train_rows, test_rows = split_rows(len(recording), job.test_share, seed)
    train_rec, test_rec = RecordedRows(recording.labels, train_rows), RecordedRows(recording.labels, test_rows)
    trainer = AlignmentTrainer([RecordingAdapter(recording), model], [SITE, site], job.align)
    behaviour, latents = clmas_training(recording, train_rec, task, mapping, job.train_pairs, 4 * seed)
    fit = trainer.fit(behaviour, latents=latents, show_progress=show_progress)
    test = {
        (MODEL, MODEL): build_pairs(task, task, job.test_pairs, mapping, seed=4 * seed + 100),
        (RECORDED, MODEL): build_pairs(test_rec, task, job.test_pairs, mapping, seed=4 * seed + 101),
    }
    return trainer, fit, test


def run_recorded_clmas(job: RecordedCLMASJob, out: Path, show_progress: bool = True) -> dict:
    """Load the files and the model, train, score Access and DAS beside untrained rotations, save."""
    start = time.perf_counter()
    recording = load_recording(job.states, job.labels)
    adapters, configs = load_task_models([job.model])
    trainer, fit, test = fit_recorded_clmas(recording, adapters[0], job.site, configs[0].build_task(), job,
                                            show_progress)
    scores = evaluate_iia(trainer, fit.rotations, test)
    control = evaluate_iia(trainer, Rotations(trainer.widths, seed=job.align.seed + 10_000), test)
    results = {
        "models": [job.states.name, adapters[0].name],
        "sites": [SITE, job.site],
        "k": job.align.k,
        "iia": scores_json(scores),
        "access_iia": scores[(RECORDED, MODEL)].trial,
        "das_iia": scores[(MODEL, MODEL)].trial,
        "control_iia": max(s.trial for s in control.values()),
        "recorded_rows": len(recording),
        "steps": fit.steps,
        "seconds": round(time.perf_counter() - start, 2),
        "history": fit.history,
        "job": job.model_dump(mode="json"),
    }
    with staged_folder(out, "clmas", job) as folder:
        fit.rotations.save(folder / "rotations.safetensors")
        write_json(folder / "results.json", results)
    return results
