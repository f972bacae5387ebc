"""The data behind the correlational measures: paired activation rows from two models.

Both models read one shared set of sequences (a fixed number per count of the task) and every
non-PAD position becomes a row, so row i of one model's matrix and row i of the other's are the
same stimulus. Each repeat then scores the same subsampled rows of both models; models may differ
in width and in site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mas.adapters import ModelAdapter
from mas.errors import MasError
from mas.experiments.alignment import load_task_models, shared_task
from mas.models.training import training_counts
from mas.similarity import compare
from mas.tasks import CausalModel
from mas.tasks.base import PAD
from mas.tasks.sequences import sample_sequences

SEQUENCES_PER_COUNT = 15
ROWS = 1000
REPEATS = 10


def comparison_tokens(task: CausalModel, per_count: int = SEQUENCES_PER_COUNT, seed: int = 0) -> torch.Tensor:
    """`per_count` sequences for every count 1..max of `task` (its own max), padded to one width."""
    if per_count < 1:
        raise MasError(f"need at least one sequence per count, got {per_count}")
    rng = np.random.default_rng([seed, 0])
    batches = [sample_sequences(task, rng, per_count, [count]).tokens for count in training_counts(task, [])]
    width = max(b.shape[1] for b in batches)
    return torch.cat([F.pad(b, (0, width - b.shape[1]), value=PAD) for b in batches])


def site_rows(adapter: ModelAdapter, site: str, tokens: torch.Tensor) -> torch.Tensor:
    """States at every non-PAD position as rows (N, d), sequence by sequence, position by position."""
    states = adapter.read(site, tokens)
    rows = states[(tokens != PAD).to(states.device)].cpu()
    if rows.shape[0] == 0:
        raise MasError(f"no non-PAD positions to read from model {adapter.name}")
    return rows


def model_activations(
    folders: Sequence[Path], sites: Sequence[str], per_count: int = SEQUENCES_PER_COUNT, seed: int = 0
) -> list[torch.Tensor]:
    """Paired activation rows of each model at its site, on sequences of the first model's task."""
    adapters, tokens = _comparison_inputs(folders, sites, per_count, seed)
    return [site_rows(adapter, site, tokens) for adapter, site in zip(adapters, sites)]


def check_similarity_inputs(
    folders: Sequence[Path], sites: Sequence[str], rows: int, per_count: int = SEQUENCES_PER_COUNT, seed: int = 0
) -> None:
    """Refuse what `model_activations` and `row_subsets` would refuse, without reading a state, so a
    driver can check a comparison at once and compute it later, as a job."""
    _, tokens = _comparison_inputs(folders, sites, per_count, seed)
    check_row_count(int((tokens != PAD).sum()), rows)


def _comparison_inputs(
    folders: Sequence[Path], sites: Sequence[str], per_count: int, seed: int
) -> tuple[list[ModelAdapter], torch.Tensor]:
    """The models, with their sites checked, and the sequences they are compared on."""
    if len(sites) != len(folders):
        raise MasError(f"{len(folders)} models but {len(sites)} sites")
    adapters, configs = load_task_models(list(folders))
    for adapter, site in zip(adapters, sites):
        adapter.check_site(site)
    return adapters, comparison_tokens(shared_task(configs), per_count, seed)


def check_row_count(available: int, rows: int) -> None:
    if rows > available:
        raise MasError(f"{rows} rows asked per repeat but only {available} activation rows exist; ask for fewer rows")


def row_subsets(n: int, rows: int = ROWS, repeats: int = REPEATS, seed: int = 0) -> list[np.ndarray]:
    """`repeats` sorted draws of `rows` distinct row indices out of `n`, seeded."""
    if rows < 1 or repeats < 1:
        raise MasError(f"rows and repeats must be positive, got {rows} and {repeats}")
    check_row_count(n, rows)
    rng = np.random.default_rng([seed, 1])
    return [np.sort(rng.choice(n, size=rows, replace=False)) for _ in range(repeats)]


def repeated_similarity(
    x: torch.Tensor,
    y: torch.Tensor,
    measures: Iterable[str] | None = None,
    rows: int = ROWS,
    repeats: int = REPEATS,
    seed: int = 0,
    zscore: bool = False,
) -> dict[str, list[float]]:
    """Each measure's value on every repeat, X and Y subsampled with the same row indices."""
    if x.shape[0] != y.shape[0]:
        raise MasError(f"activation matrices must pair rows, got {x.shape[0]} and {y.shape[0]} rows")
    names = list(measures) if measures is not None else None
    values: dict[str, list[float]] = {}
    for index in row_subsets(x.shape[0], rows, repeats, seed):
        for name, value in compare(x[index], y[index], names, zscore=zscore).items():
            values.setdefault(name, []).append(value)
    return values


def summarize(values: dict[str, list[float]]) -> dict[str, dict]:
    """Mean and (population) standard deviation over repeats, beside the raw values."""
    return {name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v} for name, v in values.items()}
