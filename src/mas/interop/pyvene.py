"""pyvene both ways: a learned `mas` alignment as a pyvene intervention, and a pyvene rotation as a run.

A language-model run's subspace B = Q[:, :k] (width × k, orthonormal) is exactly the weight of pyvene's
`LowRankRotatedSpaceIntervention` with `low_rank_dimension=k`: both write h_t + (h_s·B − h_t·B)·Bᵀ.
So an export is a pyvene folder per model (its `config.json` and `intkey_*.bin`, written by pyvene's
own `save`, which uses torch's format; `mas` reads it back with `weights_only=True`), and an import
completes B to a full rotation whose first k columns are B, saved as a run folder `mas evaluate` scores.

Sites map to pyvene's representations: `layers.<i>` is block i's output, `embed` block 0's input.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from mas.errors import MasError
from mas.tasks.pairs import IGNORE, PairSet

INTERVENTION = "LowRankRotatedSpaceIntervention"
_LAYER = re.compile(r"layers\.(\d+)")


def _pyvene() -> Any:
    try:
        import pyvene
    except ImportError:
        raise MasError("pyvene is not installed: pip install pyvene") from None
    return pyvene


def representation(site: str, k: int) -> dict:
    """pyvene's representation of a `mas` language-model site, with a rank-k rotated subspace."""
    if site == "embed":
        layer, component = 0, "block_input"
    elif (match := _LAYER.fullmatch(site)) is not None:
        layer, component = int(match.group(1)), "block_output"
    else:
        raise MasError(f"site {site!r} has no pyvene counterpart; use 'embed' or 'layers.<i>'")
    return {"layer": layer, "component": component, "unit": "pos", "low_rank_dimension": k}


def site_of(representation: Any) -> str:
    """The `mas` site of a pyvene representation (the inverse of `representation`)."""
    layer, component = int(representation.layer), representation.component
    if component == "block_output":
        return f"layers.{layer}"
    if component == "block_input":
        return "embed" if layer == 0 else f"layers.{layer - 1}"
    raise MasError(f"pyvene component {component!r} has no `mas` site; block_input and block_output do")


def intervenable(model: torch.nn.Module, site: str, basis: torch.Tensor) -> Any:
    """A pyvene `IntervenableModel` on `model` that swaps the span of `basis` (width × k) at `site`."""
    pv = _pyvene()
    config = pv.IntervenableConfig(representations=[representation(site, basis.shape[1])],
                                   intervention_types=pv.LowRankRotatedSpaceIntervention)
    wrapped = pv.IntervenableModel(config, model)
    wrapped.disable_model_gradients()
    only = _only_intervention(wrapped, "the new model")
    with torch.no_grad():
        only.rotate_layer.weight = basis.to(torch.float32)
    return wrapped


def _only_intervention(wrapped: Any, where: str) -> Any:
    interventions = list(wrapped.interventions.values())
    if len(interventions) != 1:
        raise MasError(f"{where} holds {len(interventions)} pyvene interventions; one is needed")
    found = interventions[0][0] if isinstance(interventions[0], (tuple, list)) else interventions[0]
    if type(found).__name__ != INTERVENTION:
        raise MasError(f"{where} holds a {type(found).__name__}; only a {INTERVENTION} maps onto a `mas` subspace")
    return found


def check_folder(folder: Path) -> None:
    """Refuse, before any model is loaded, a folder pyvene's `save` did not write."""
    if not (Path(folder) / "config.json").is_file():
        raise MasError(f"{folder} is not a saved pyvene intervention (no config.json)")


def load_intervenable(folder: Path, model: torch.nn.Module) -> tuple[Any, str, torch.Tensor]:
    """A saved pyvene intervention on `model`: the intervenable, its `mas` site and its basis (width × k)."""
    check_folder(folder)
    pv = _pyvene()
    wrapped = pv.IntervenableModel.load(str(Path(folder)), model)
    found = _only_intervention(wrapped, str(folder))
    site = site_of(wrapped.representations[next(iter(wrapped.representations))])
    return wrapped, site, found.rotate_layer.weight.detach().to(torch.float64)


def full_rotation(basis: torch.Tensor) -> torch.Tensor:
    """An orthogonal Q (float64) whose first k columns are `basis` (orthonormalised in float64)."""
    q, r = torch.linalg.qr(basis.detach().to(torch.float64), mode="complete")
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1
    q[:, : basis.shape[1]] *= signs
    return q


@torch.no_grad()
def pyvene_iia(wrapped: Any, pairs: PairSet, batch_size: int = 64) -> float:
    """Trial IIA of a pyvene intervenable on `pairs`, as `mas` counts it (every labelled token right).

    Rows are grouped by how many positions they swap, since pyvene wants as many per row in a batch.
    """
    used = (pairs.target_positions >= 0).sum(1)
    right = 0
    for count in used.unique().tolist():
        rows = (used == count).nonzero().flatten()
        for start in range(0, len(rows), batch_size):
            part = pairs.subset(rows[start : start + batch_size])
            source = [p[p >= 0].tolist() for p in part.source_positions]
            target = [p[p >= 0].tolist() for p in part.target_positions]
            _, out = wrapped({"input_ids": part.tokens}, [{"input_ids": part.source_tokens}],
                             {"sources->base": ([source], [target])})
            scored = part.labels != IGNORE
            hits = (out.logits.argmax(-1) == part.labels) | ~scored
            right += int(hits.all(1).sum())
    return right / len(pairs)


PYVENE_EXPORT = "export-pyvene"  # the run marker's command of a folder `mas export --to pyvene` writes
IMPORT = "import-pyvene"


def export_pyvene(run: Path, out: Path) -> dict:
    """Write each model's subspace of a `mas lm-align` run as a pyvene folder `out/model_<i>`."""
    from mas.adapters.hf import load_causal_lm
    from mas.experiments.artifacts import subspaces
    from mas.experiments.lm_alignment import LMAlignmentJob
    from mas.experiments.run_files import load_run, run_sites
    from mas.io import write_json
    from mas.run_folder import staged_folder

    results, rotations = load_run(run)
    if "data" not in results["job"]:
        raise MasError(f"{run} aligned task models, which pyvene cannot load; export a `mas lm-align` run")
    job = LMAlignmentJob.model_validate(results["job"])
    k, sites = int(results["k"]), run_sites(results)
    for site in sites:
        representation(site, k)
    bases = subspaces(rotations, k)
    folders = [f"model_{i}" for i in range(len(bases))]
    metadata = {"run": str(run), "models": job.models, "names": results["models"], "sites": sites, "k": k,
                "folders": folders, "intervention": INTERVENTION,
                "use": "pyvene.IntervenableModel.load(folder, model) with the model of the same index"}
    with staged_folder(Path(out), PYVENE_EXPORT, {"run": str(run)}) as folder:
        for model, site, basis, name in zip(job.models, sites, bases, folders):
            intervenable(load_causal_lm(model).eval(), site, basis).save(str(folder / name))
        write_json(folder / "mas-export.json", metadata)
    return metadata


def import_pyvene(folder: Path, model: str, out: Path, name: str | None = None) -> dict:
    """Make a saved pyvene rotation on `model` a run folder that `mas evaluate` and `mas export` accept."""
    from mas.adapters.hf import load_causal_lm
    from mas.align import AlignConfig, Rotations
    from mas.experiments.lm_alignment import LMAlignmentJob
    from mas.io import write_json
    from mas.run_folder import staged_folder

    check_folder(folder)
    _, site, basis = load_intervenable(folder, load_causal_lm(model).eval())
    width, k = basis.shape
    rotations = Rotations([width])
    rotations.layers[0].weight = full_rotation(basis)
    job = LMAlignmentJob(models=[str(model)], names=[name or str(model)], site=site, align=AlignConfig(k=k))
    results = {"job": job.model_dump(mode="json"), "k": k, "models": job.labels(), "site": site,
               "imported_from": str(folder)}
    with staged_folder(Path(out), IMPORT, {"folder": str(folder), "model": str(model)}) as run:
        rotations.save(run / "rotations.safetensors")
        write_json(run / "results.json", results)
    return results
