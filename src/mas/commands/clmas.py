"""`mas clmas`: CLMAS where the inaccessible model is only a recording of states and their variables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.align import AlignConfig
from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, RUNS, command, emit_json, out_console
from mas.run_folder import claim_folder


@command
def clmas(
    model: Path = typer.Argument(..., help="Model folder written by `mas train`: the model we can run."),
    recordings: Path = typer.Option(..., help="Recorded states, rows × units (.npy or .safetensors)."),
    labels: Path = typer.Option(..., help="CSV, one row per recorded state, a header of variable names."),
    site: str = typer.Option("hidden", help="Site of MODEL to align with the recording."),
    variable: str = typer.Option("count", help="Causal variable to align (a column of LABELS and a task variable)."),
    k: int = typer.Option(32, help="Size of the swapped aligned subspace."),
    steps: int = typer.Option(250, help="Training steps."),
    pairs: int = typer.Option(2048, help="Training pairs per direction."),
    test_pairs: int = typer.Option(500, help="Held-out pairs per scored direction."),
    cl_weight: float = typer.Option(1.0, help="ε, the weight of the counterfactual-latent loss."),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="Run folder (default runs/clmas/<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Align MODEL with recorded states: behaviour into MODEL, counterfactual latents into the recording."""
    from mas.experiments.recorded_clmas import RecordedCLMASJob, run_recorded_clmas

    job = RecordedCLMASJob(states=recordings, labels=labels, model=model, site=site, variable=variable,
                           train_pairs=pairs, test_pairs=test_pairs,
                           align=AlignConfig(k=k, steps=steps, seed=seed, cl_weight=cl_weight))
    folder = claim_folder(out or RUNS / "clmas" / time.strftime("%Y%m%d-%H%M%S"), "clmas", job, overwrite=overwrite)
    results = run_recorded_clmas(job, folder)
    out_console.print(f"Access IIA (held-out recorded rows -> {model.name}): {results['access_iia']:.3f}; "
                      f"DAS on {model.name}: {results['das_iia']:.3f}; untrained control: {results['control_iia']:.3f}")
    out_console.print(f"{results['steps']} steps, {results['seconds']:.1f} s; results in {folder}/")
    if json_out:
        emit_json({k_: results[k_] for k_ in ("iia", "access_iia", "das_iia", "control_iia", "seconds")} | {"run": str(folder)})
