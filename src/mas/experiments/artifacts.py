"""A finished alignment as an artifact: apply its rotations to new pairs, or export its subspaces.

Works on the run folders of `mas align` (task models), `mas lm-align` (language models) and
`mas.experiments.saved_fit.save_fit` (a fit made from Python): each holds `results.json` (with the
job that made it) and `rotations.safetensors`.

The export is plain data any tool can read: for every model i, `model_<i>` in
`subspaces.safetensors` is B_i = Q_i[:, :k], a (width × k) matrix with orthonormal columns, so that
z = h · B_i are the k aligned coordinates of a state h at the model's site, and an interchange from
source s into target t writes h_t + (h_s · B_s − h_t · B_t) · B_tᵀ. `subspaces.json` says which model,
site, k, IIA and seed each matrix belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils import parametrize

from mas.adapters.base import ModelAdapter
from mas.align import AlignmentTrainer, Direction, Rotations, all_directions
from mas.errors import MasError
from mas.evaluate import evaluate_iia, iia_matrix, scores_json
from mas.experiments.run_files import load_run, run_sites
from mas.io import save_tensors, write_json
from mas.run_folder import staged_folder
from mas.tasks.pairs import PairSet

SUBSPACES = "subspaces.safetensors"
METADATA = "subspaces.json"
EXPORT = "export"  # the run marker's command of a folder `mas export --out` writes

# The models behind a run, its fresh test pairs per direction, whether to free-run, and a batch size.
Setup = tuple[AlignmentTrainer, dict[Direction, PairSet], bool, int]


@torch.no_grad()
def subspaces(rotations: Rotations, k: int) -> list[torch.Tensor]:
    """B_i = Q_i[:, :k] for every model, as trained (float64)."""
    with parametrize.cached():
        return [q[:, :k].clone() for q in rotations.matrices()]


def export_run(run: Path, out: Path | None = None) -> dict:
    """Write `subspaces.safetensors` and `subspaces.json` into `out` (default: the run folder)."""
    results, rotations = load_run(run)
    k = int(results["k"])
    bases = subspaces(rotations, k)
    seed = results["job"].get("align", {}).get("seed")
    metadata = {
        "models": results["models"],
        "sites": run_sites(results),
        "widths": rotations.widths,
        "k": k,
        "seed": seed,
        "iia": results.get("iia", results.get("token_iia")),
        "iia_kind": "trial" if "iia" in results else "token",
        "tensors": [f"model_{i}" for i in range(len(bases))],
        "dtype": "float64",
        "run": str(run),
        "use": "z = h @ model_i gives the k aligned coordinates of a state h (row vector) at sites[i]; "
        "an interchange from s into t writes h_t + (h_s @ model_s - h_t @ model_t) @ model_t.T",
    }
    if out is None:  # beside the rotations, in the run folder
        _write_export(Path(run), bases, metadata)
    else:  # a folder of its own, written whole (claim it first: `export_marker`)
        with staged_folder(Path(out), EXPORT, export_marker(run)) as folder:
            _write_export(folder, bases, metadata)
    return metadata


def export_marker(run: Path) -> dict:
    """The settings of an export folder's run marker: which run it was exported from."""
    return {"run": str(run)}


def _write_export(folder: Path, bases: list, metadata: dict) -> None:
    save_tensors(folder / SUBSPACES, {f"model_{i}": b for i, b in enumerate(bases)},
                 metadata={"mas": json.dumps(metadata, sort_keys=True)})
    write_json(folder / METADATA, metadata)


def _task_setup(results: dict, n_pairs: int, seed: int) -> Setup:
    """The run's task models, and fresh pairs of its task, variable and mode for each of its directions."""
    from mas.experiments.alignment import AlignmentJob, load_task_models, shared_task
    from mas.tasks.pairs import build_pairs

    job = AlignmentJob.model_validate(results["job"])
    adapters, configs = load_task_models(job.models)
    trainer = AlignmentTrainer(adapters, run_sites(results), job.align)
    directions = [tuple(d) for d in job.directions] if job.directions else all_directions(len(adapters))
    task = shared_task(configs)
    pairs = build_pairs(task, task, n_pairs, {job.variable: job.variable}, job.mode, seed=seed)
    return trainer, {d: pairs for d in directions}, True, 512


def _lm_setup(results: dict, n_pairs: int, seed: int, pairs_file: Path | None = None) -> Setup:
    """The run's language models, and the pairs to score them on: the first `n_pairs` of
    `pairs_file`, else the held-out pairs of the run's own pair file, else fresh stepwise pairs
    from its held-out prompts. A pair file is checked, and its positions resolved with each
    model's tokenizer, before any weights are loaded."""
    from mas.adapters.hf import load_tokenizer
    from mas.experiments.lm_alignment import EVAL_BATCH, LMAlignmentJob, file_pair_sets, load_lms, split_texts
    from mas.lm.data import load_texts
    from mas.lm.pair_files import pair_sets_from_file, read_pair_file
    from mas.lm.pairs import build_lm_pair_sets

    job = LMAlignmentJob.model_validate(results["job"])
    test: dict[Direction, PairSet] | None = None
    if pairs_file is not None:
        specs = read_pair_file(pairs_file)
        tokenizers = [load_tokenizer(model) for model in job.models]
        test = pair_sets_from_file(specs, tokenizers, job.models, pairs_file, range(min(n_pairs, len(specs))))
    elif job.pairs is not None:
        test = file_pair_sets(job)[1]
    adapters = load_lms(job)
    trainer = AlignmentTrainer(adapters, [job.site] * len(adapters), job.align)
    if test is None:
        _, test_texts = split_texts(load_texts(job.data), job.align.seed)
        test = build_lm_pair_sets(adapters, load_tokenizer(job.models[0]), test_texts, job.length, n_pairs, seed=seed)
    return trainer, test, False, EVAL_BATCH


def _fit_setup(run: Path, results: dict, n_pairs: int, adapters: Sequence[ModelAdapter] | None) -> Setup:
    """A saved Python fit's models (`adapters`, else the task-model folders it names) and the first
    `n_pairs` of its saved test pairs per direction."""
    from mas.experiments.alignment import load_task_models
    from mas.experiments.saved_fit import load_fit

    if adapters is None:
        if not results["job"].get("models"):
            raise MasError(f"{run} was fitted from Python on models only Python can rebuild: evaluate it with "
                           "mas.experiments.artifacts.evaluate_run(run, pairs, seed, adapters=[...])")
        adapters = load_task_models([Path(m) for m in results["job"]["models"]])[0]
    trainer, _, test = load_fit(run, adapters)
    return trainer, {d: p.subset(slice(0, n_pairs)) for d, p in test.items()}, True, 512


def evaluate_run(
    run: Path, n_pairs: int, seed: int, pairs_file: Path | None = None, adapters: Sequence[ModelAdapter] | None = None
) -> dict[str, Any]:
    """The run's saved rotations scored on `n_pairs` fresh pairs drawn with `seed` (or on the pairs
    of `pairs_file`, for a language-model run; on the first `n_pairs` of its saved test pairs, for a
    fit saved from Python, whose models `adapters` gives unless they are task-model folders it names),
    beside untrained ones."""
    if n_pairs < 1:
        raise MasError(f"need at least one pair to evaluate on, got {n_pairs}")
    results, rotations = load_run(run)
    if "states" in results["job"]:
        raise MasError(f"{run} aligned a recording, which cannot be run on new pairs; `mas export` it instead")
    if adapters is not None and not results["job"].get("python"):
        raise MasError(f"{run} is a run of a command, which loads its own models; adapters are for saved Python fits")
    if results["job"].get("python"):
        if pairs_file is not None:
            raise MasError(f"{run} is a fit saved from Python; it is scored on its own saved pairs, not --pairs-file")
        trainer, test, free_running, batch = _fit_setup(run, results, n_pairs, adapters)
    elif "data" in results["job"]:
        trainer, test, free_running, batch = _lm_setup(results, n_pairs, seed, pairs_file)
    elif pairs_file is not None:
        raise MasError(f"{run} aligned task models; --pairs-file takes language-model pairs, for `mas lm-align` runs")
    else:
        trainer, test, free_running, batch = _task_setup(results, n_pairs, seed)
    if trainer.widths != rotations.widths:
        raise MasError(f"the models' site widths {trainer.widths} do not match the rotations' {rotations.widths}")
    scores = evaluate_iia(trainer, rotations, test, free_running, batch)
    control = evaluate_iia(trainer, Rotations(trainer.widths, seed=seed + 10_000), test, free_running, batch)
    n = len(results["models"])
    return {
        "models": results["models"],
        "k": results["k"],
        "pairs": len(next(iter(test.values())).tokens),
        "pairs_file": None if pairs_file is None else str(pairs_file),
        "seed": seed,
        "iia": scores_json(scores),
        "token_iia": scores_json(scores, "token"),
        "iia_matrix": iia_matrix(scores, n),
        "token_matrix": iia_matrix(scores, n, "token"),
        "control_iia": max(s.trial for s in control.values()),
        "control_token_iia": max(s.token for s in control.values()),
    }


__all__ = ["evaluate_run", "export_run", "load_run", "subspaces"]
