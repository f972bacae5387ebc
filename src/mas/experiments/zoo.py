"""A population ("zoo") of models in one shared aligned space: n rotations, a map of who computes alike.

One joint MAS run learns one rotation per model with sampled directions (each step trains about n of
the n² directions, `AlignConfig.direction_sampling`), so its cost per step is linear in n; every
direction is then scored on held-out pairs. Beside the IIA matrix, linear CKA and RSA matrices over
the same models, in the same order, show where causal and correlational similarity disagree; the
models are clustered (average linkage) and embedded in 2-D (classical MDS) by 1 − symmetrised IIA.

Models may come from different tasks: models of one task (and options) form a group, and each pair
of groups gets its own pairs, seeded by the groups' order of first appearance. That is what lets
`add_to_zoo` align one more model into a finished run's space: the old models' rotations stay frozen,
only the new model's rotation trains (on the directions into and out of it, two target passes per
step whatever n is), and the old cells of the matrix are kept as they were.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from mas.align import AlignConfig, AlignmentTrainer, Direction, Rotations, all_directions, direction_key
from mas.errors import MasError
from mas.evaluate import evaluate_iia, iia_matrix
from mas.experiments.activations import comparison_tokens, repeated_similarity, site_rows
from mas.experiments.alignment import load_task_models
from mas.experiments.cross_task import fitted_source
from mas.io import read_json, write_csv, write_json
from mas.models import TaskModelConfig
from mas.plots import embedding_plot, zoo_figure
from mas.run_folder import staged_folder
from mas.tasks import make_causal_model
from mas.tasks.pairs import PairSet, build_pairs

SPLITS = ("train", "validation", "test")
CKA_MEASURE = "cka_linear"
RSA_MEASURE = "rsa_correlation_spearman"
Matrix = list[list[float | None]]


def zoo_align_config() -> AlignConfig:
    """The zoo's defaults: sampled directions (linear cost), a few hundred steps, k 16."""
    return AlignConfig(direction_sampling="derangement", k=16, steps=600, eval_every=100, batch_size=64)


class ZooJob(BaseModel):
    """A population and how to align it; saved in the run so a later `add_to_zoo` rebuilds its pairs."""

    models: list[Path] = Field(min_length=2)
    sites: list[str] = Field(default_factory=lambda: ["hidden"], description="one for all models, or one per model")
    variable: str = "count"
    mode: Literal["single", "stepwise"] = "single"
    train_pairs: int = Field(1024, ge=1)
    validation_pairs: int = Field(64, ge=1)
    test_pairs: int = Field(256, ge=1)
    similarity_rows: int = Field(500, ge=3, description="activation rows per CKA/RSA repeat")
    similarity_repeats: int = Field(3, ge=1)
    align: AlignConfig = Field(default_factory=zoo_align_config)


class ZooAddition(BaseModel):
    """New models aligned into the space of the finished zoo run `base`."""

    base: Path
    models: list[Path] = Field(min_length=1)
    sites: list[str] = Field(default_factory=lambda: ["hidden"])


def model_sites(sites: list[str], n: int) -> list[str]:
    if len(sites) == 1:
        return sites * n
    if len(sites) != n:
        raise MasError(f"{n} models but {len(sites)} sites; give one site for all or one per model")
    return list(sites)


class Population:
    """Loaded models, their sites and causal models, and the task group each belongs to."""

    def __init__(self, models: list[Path], sites: list[str]) -> None:
        names = [Path(m).name for m in models]
        if len(set(names)) < len(names):
            raise MasError(f"model folders must have distinct names (they label the matrices), got {', '.join(names)}")
        self.adapters, self.configs = load_task_models(models)
        self.sites = model_sites(sites, len(self.adapters))
        for adapter, site in zip(self.adapters, self.sites):
            adapter.check_site(site)
        keys = [group_key(c) for c in self.configs]
        self.group_keys = list(dict.fromkeys(keys))
        self.groups = [self.group_keys.index(k) for k in keys]
        self.tasks = [make_causal_model(c.task, None, **c.task_options) for c in self.configs]

    @property
    def labels(self) -> list[str]:
        return [a.name for a in self.adapters]


def group_key(config: TaskModelConfig) -> str:
    options = ",".join(f"{k}={v}" for k, v in sorted(config.task_options.items()))
    return f"{config.task}({options})"


def direction_pairs(
    population: Population, job: ZooJob, directions: list[Direction]
) -> dict[str, dict[Direction, PairSet]]:
    """Train, validation and test pairs of every direction; directions between the same two groups share them."""
    built: dict[tuple[int, int], dict[str, PairSet]] = {}
    split: dict[str, dict[Direction, PairSet]] = {name: {} for name in SPLITS}
    sizes = (job.train_pairs, job.validation_pairs, job.test_pairs)
    for s, t in directions:
        groups = (population.groups[s], population.groups[t])
        if groups not in built:
            source, target = population.tasks[s], population.tasks[t]
            fitted = fitted_source(source, target, [job.variable], [job.variable])
            built[groups] = {
                name: build_pairs(fitted, target, n, {job.variable: job.variable}, job.mode,
                                  seed=_seed(job.align.seed, *groups, i))
                for i, (name, n) in enumerate(zip(SPLITS, sizes))
            }
        for name in SPLITS:
            split[name][(s, t)] = built[groups][name]
    return split


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([p + 1 for p in parts]).generate_state(1)[0])


def run_zoo(job: ZooJob, out: Path, show_progress: bool = True) -> dict:
    """Align the whole population jointly, score all n² directions, write the run folder `out`."""
    start = time.perf_counter()
    population = Population(job.models, job.sites)
    directions = all_directions(len(population.adapters))
    pairs = direction_pairs(population, job, directions)
    trainer = AlignmentTrainer(population.adapters, population.sites, job.align)
    fit = trainer.fit(pairs["train"], pairs["validation"], show_progress=show_progress)
    scores = evaluate_iia(trainer, fit.rotations, pairs["test"])
    matrix = iia_matrix(scores, len(population.adapters))
    timing = {"steps": fit.steps, "train_seconds": round(fit.seconds, 2)}
    return write_zoo(out, "zoo", job, population, fit.rotations, matrix, timing, start)


def add_to_zoo(addition: ZooAddition, out: Path, show_progress: bool = True) -> dict:
    """Align `addition.models` into the finished run `addition.base`: only their rotations train."""
    start = time.perf_counter()
    base_results, base_rotations = read_zoo(addition.base)
    base_job = ZooJob.model_validate(base_results["job"])
    old = len(base_job.models)
    job = base_job.model_copy(update={
        "models": [*base_job.models, *addition.models],
        "sites": [*model_sites(base_job.sites, old), *model_sites(addition.sites, len(addition.models))],
    })
    population = Population(job.models, job.sites)
    trainer = AlignmentTrainer(population.adapters, population.sites, job.align)
    if trainer.widths[:old] != base_rotations.widths:
        raise MasError(f"the models of {addition.base} no longer have the widths its rotations were trained on")
    rotations = frozen_population(trainer, base_rotations)
    new = set(range(old, len(population.adapters)))
    directions = [d for d in all_directions(len(population.adapters)) if new & set(d)]
    pairs = direction_pairs(population, job, directions)
    fit = trainer.fit(pairs["train"], pairs["validation"], rotations=rotations, show_progress=show_progress)
    scores = evaluate_iia(trainer, fit.rotations, pairs["test"])
    matrix = iia_matrix(scores, len(population.adapters))
    for s, row in enumerate(base_results["iia_matrix"]):
        matrix[s][:old] = row
    timing = {"steps": fit.steps, "train_seconds": round(fit.seconds, 2), "added_to": str(addition.base),
              "trained_models": sorted(new)}
    return write_zoo(out, "zoo", addition, population, fit.rotations, matrix, timing, start, job)


def frozen_population(trainer: AlignmentTrainer, base: Rotations) -> Rotations:
    """Fresh rotations for every model, the first ones replaced by `base`'s and frozen."""
    seed = trainer.config.seed + len(base.widths)
    rotations = Rotations(trainer.widths, seed=seed, orthogonal_map=base.orthogonal_map)
    for layer, old in zip(rotations.layers, base.layers):
        layer.load_state_dict(old.state_dict())
        layer.requires_grad_(False)
    return rotations


def read_zoo(folder: Path) -> tuple[dict, Rotations]:
    """A finished zoo run's results and rotations; a one-line error if `folder` is not one."""
    folder = Path(folder)
    if not (folder / "results.json").is_file() or not (folder / "rotations.safetensors").is_file():
        raise MasError(f"{folder} is not a finished zoo run (no results.json and rotations.safetensors)")
    results = read_json(folder / "results.json")
    if not isinstance(results, dict) or "iia_matrix" not in results or "job" not in results:
        raise MasError(f"{folder} is not a finished zoo run (its results.json has no IIA matrix)")
    return results, Rotations.load(folder / "rotations.safetensors")


def similarity_matrices(population: Population, job: ZooJob) -> dict[str, Matrix]:
    """Linear CKA and RSA between every two models, on one shared set of sequences (the first model's task).

    A model whose vocabulary cannot read those sequences gets no value (None) against the others.
    """
    tokens = comparison_tokens(population.tasks[0])
    readable = [int(tokens.max()) < c.vocab_size for c in population.configs]
    rows = [site_rows(a, s, tokens) if ok else None
            for a, s, ok in zip(population.adapters, population.sites, readable)]
    n = len(rows)
    out: dict[str, Matrix] = {CKA_MEASURE: [[None] * n for _ in range(n)], RSA_MEASURE: [[None] * n for _ in range(n)]}
    for i in range(n):
        for j in range(i, n):
            if rows[i] is None or rows[j] is None:
                continue
            count = min(job.similarity_rows, rows[i].shape[0])
            values = repeated_similarity(rows[i], rows[j], [CKA_MEASURE, RSA_MEASURE], count, job.similarity_repeats,
                                         seed=job.align.seed)
            for name, v in values.items():
                out[name][i][j] = out[name][j][i] = float(np.mean(v))
    return out


def iia_distance(matrix: Matrix) -> np.ndarray:
    """1 − symmetrised IIA, zero on the diagonal: how differently two models compute the variable."""
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    if np.isnan(values).any():
        raise MasError("the IIA matrix has unscored directions; the zoo needs every direction")
    distance = 1.0 - (values + values.T) / 2
    np.fill_diagonal(distance, 0.0)
    return np.clip(distance, 0.0, None)


def cluster_order(distance: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Average-linkage clustering of the models: the dendrogram's leaf order and its linkage matrix."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    link = linkage(squareform(distance, checks=False), method="average")
    return [int(i) for i in leaves_list(link)], link


def embedding(distance: np.ndarray) -> np.ndarray:
    """Classical MDS: 2-D points whose distances best match `distance` (n × 2)."""
    n = distance.shape[0]
    centring = np.eye(n) - np.ones((n, n)) / n
    gram = -0.5 * centring @ (distance**2) @ centring
    values, vectors = np.linalg.eigh(gram)
    top = np.argsort(values)[::-1][:2]
    return vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))


def write_zoo(
    out: Path, command: str, settings: BaseModel, population: Population, rotations: Rotations, matrix: Matrix,
    timing: dict, start: float, job: ZooJob | None = None,
) -> dict:
    """Similarity matrices, clustering and figures beside the IIA matrix, all written in one staged folder."""
    job = job or settings  # type: ignore[assignment]
    labels = population.labels
    similarity = similarity_matrices(population, job)
    distance = iia_distance(matrix)
    order, link = cluster_order(distance)
    points = embedding(distance)
    results = {
        "models": labels,
        "model_paths": [str(p) for p in job.models],
        "sites": population.sites,
        "task_groups": [population.group_keys[g] for g in population.groups],
        "k": job.align.k,
        "iia_matrix": matrix,
        "iia": {direction_key((s, t)): v for s, row in enumerate(matrix) for t, v in enumerate(row)},
        "cka": similarity[CKA_MEASURE],
        "rsa": similarity[RSA_MEASURE],
        "similarity_measures": {"cka": CKA_MEASURE, "rsa": RSA_MEASURE},
        "cluster_order": [labels[i] for i in order],
        "embedding": {label: [round(float(x), 4) for x in point] for label, point in zip(labels, points)},
        **timing,
        "direction_sampling": job.align.direction_sampling,
        "seconds": round(time.perf_counter() - start, 2),
        "job": job.model_dump(mode="json"),
    }
    with staged_folder(out, command, settings) as folder:
        rotations.save(folder / "rotations.safetensors")
        write_json(folder / "results.json", results)
        write_json(folder / "iia.json", {"models": labels, "rows": "source", "columns": "target", "iia": matrix})
        for name, values in (("iia", matrix), ("cka", similarity[CKA_MEASURE]), ("rsa", similarity[RSA_MEASURE])):
            write_matrix_csv(folder / f"{name}.csv", labels, values)
        zoo_figure({"IIA (source → target)": matrix, f"CKA ({CKA_MEASURE})": similarity[CKA_MEASURE],
                    f"RSA ({RSA_MEASURE})": similarity[RSA_MEASURE]}, labels, order, link, folder / "zoo.png")
        embedding_plot(points, labels, results["task_groups"], folder / "embedding.png")
    return results


def write_matrix_csv(path: Path, labels: list[str], matrix: Matrix) -> None:
    """One row per model (source for IIA), one column per model; empty where no value exists."""
    rows = [{"model": label, **{other: ("" if v is None else round(v, 6)) for other, v in zip(labels, row)}}
            for label, row in zip(labels, matrix)]
    write_csv(path, rows, ["model", *labels])


__all__ = ["ZooAddition", "ZooJob", "add_to_zoo", "run_zoo", "zoo_align_config"]
