"""A finished alignment run folder read back (results and rotations), whichever command or function wrote it.

Kept apart from `artifacts` (which evaluates and exports runs) so that `saved_fit` can read the
folders it writes without importing the module that imports it.
"""

from __future__ import annotations

from pathlib import Path

from mas.align import Rotations
from mas.errors import MasError
from mas.io import read_json


def load_run(run: Path) -> tuple[dict, Rotations]:
    """A run folder's results and its trained rotations."""
    run = Path(run)
    if not run.is_dir():
        raise MasError(f"no run folder at {run}")
    results = read_json(run / "results.json")
    if "job" not in results or "k" not in results or not isinstance(results.get("models"), list):
        raise MasError(f"{run} is not a run of `mas align`, `mas lm-align` or `save_fit` "
                       "(its results.json has no job, k or models)")
    rotations = Rotations.load(run / "rotations.safetensors")
    if len(rotations.widths) != len(results["models"]):
        raise MasError(f"{run} has {len(results['models'])} models but rotations for {len(rotations.widths)}")
    # An edited k would export and score the wrong subspaces under the run's name.
    trained_k = (results["job"].get("align") or {}).get("k", results["k"])
    if results["k"] != trained_k or not isinstance(trained_k, int) or not 1 <= trained_k <= min(rotations.widths):
        raise MasError(f"{run}/results.json says k = {results['k']!r} but its rotations were trained with "
                       f"k = {trained_k!r} (widths {rotations.widths}); the run folder was edited")
    return results, rotations


def run_sites(results: dict) -> list[str]:
    """One site per model, from either kind of run."""
    n = len(results["models"])
    return list(results["sites"]) if "sites" in results else [results["site"]] * n
