"""A fit made from Python, saved as a run folder that `mas evaluate` and `mas export` read like `mas align`'s.

`save_fit` writes what `mas align` writes (`results.json` with IIA beside the untrained-rotation
control, the job, `rotations.safetensors`) plus `pairs.safetensors`: the test pairs of every
direction, since a Python fit may use pairs no command can draw again. `load_fit` gives back a
trainer and the rotations for models the caller passes in; when the fit was on task models `mas
train` wrote (their folders passed as `models`), `mas evaluate` reloads them by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from mas.adapters.base import ModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, Direction, FitResult, Rotations, direction_key
from mas.errors import MasError
from mas.evaluate import evaluate_iia, iia_matrix, random_rotation_control, scores_json
from mas.experiments.run_files import load_run, run_sites
from mas.io import load_tensors, save_tensors, write_json
from mas.run_folder import staged_folder
from mas.tasks.pairs import PairSet

FIT = "fit"  # the run marker's command of a folder `save_fit` writes
PAIRS = "pairs.safetensors"


def save_fit(
    folder: Path,
    trainer: AlignmentTrainer,
    fit: FitResult,
    test: Mapping[Direction, PairSet],
    models: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Score `fit` on `test` beside untrained rotations and write the run folder (whole, or not at all).

    `models`, the folders of task models `mas train` wrote (one per adapter), lets `mas evaluate`
    reload them; without it the folder is evaluated from Python (`evaluate_run(..., adapters=...)`).
    """
    if not isinstance(fit.rotations, Rotations):
        raise MasError(f"only rotation fits (DAS, MAS, CLMAS) are saved as runs, not {type(fit.rotations).__name__}")
    if not test:
        raise MasError("save_fit needs test pairs for at least one direction")
    if models is not None and len(models) != len(trainer.adapters):
        raise MasError(f"{len(trainer.adapters)} models were aligned but {len(models)} model folders were given")
    k = trainer.config.k
    scores = evaluate_iia(trainer, fit.rotations, test)
    control = random_rotation_control(trainer, test, seed=trainer.config.seed + 10_000)
    job = {
        "python": True,
        "models": None if models is None else [str(Path(m)) for m in models],
        "sites": trainer.sites,
        "directions": [list(d) for d in test],
        "align": trainer.config.model_dump(mode="json"),
    }
    results = {
        "models": [a.name for a in trainer.adapters],
        "sites": trainer.sites,
        "k": k,
        "iia": scores_json(scores),
        "token_iia": scores_json(scores, "token"),
        "iia_matrix": iia_matrix(scores, len(trainer.adapters)),
        "control": scores_json(control),
        "control_iia": max(s.trial for s in control.values()),
        "steps": fit.steps,
        "train_seconds": round(fit.seconds, 2),
        "history": fit.history,
        "job": job,
    }
    with staged_folder(Path(folder), FIT, job) as staged:
        fit.rotations.save(staged / "rotations.safetensors")
        save_pairs(staged / PAIRS, test)
        write_json(staged / "results.json", results)
    return results


def save_pairs(path: Path, pairs: Mapping[Direction, PairSet]) -> None:
    """Each direction's pairs as tensors named `<s>-><t>/<field>`."""
    tensors = {f"{direction_key(d)}/{f.name}": getattr(p, f.name) for d, p in pairs.items() for f in fields(PairSet)}
    save_tensors(path, tensors)


def load_pairs(path: Path) -> dict[Direction, PairSet]:
    """The pairs `save_pairs` wrote, by direction."""
    tensors = load_tensors(path)
    directions = sorted({tuple(int(i) for i in name.split("/")[0].split("->")) for name in tensors})
    try:
        return {d: PairSet(**{f.name: tensors[f"{direction_key(d)}/{f.name}"] for f in fields(PairSet)})
                for d in directions}
    except KeyError as missing:
        raise MasError(f"{path} misses the tensor {missing.args[0]}") from None


def load_fit(
    folder: Path, adapters: Sequence[ModelAdapter]
) -> tuple[AlignmentTrainer, Rotations, dict[Direction, PairSet]]:
    """A saved fit's trainer over `adapters` (the models it aligned, in order), its rotations and test pairs."""
    results, rotations = load_run(Path(folder))
    if len(adapters) != len(results["models"]):
        raise MasError(f"{folder} aligned {len(results['models'])} models but {len(adapters)} adapters were given")
    trainer = AlignmentTrainer(adapters, run_sites(results), AlignConfig.model_validate(results["job"]["align"]))
    if trainer.widths != rotations.widths:
        raise MasError(f"the adapters' site widths {trainer.widths} do not match the saved rotations' "
                       f"{rotations.widths}")
    return trainer, rotations, load_pairs(Path(folder) / PAIRS)


__all__ = ["load_fit", "load_pairs", "save_fit", "save_pairs"]
