"""`mas evaluate` and `mas export`: reuse a finished alignment on new pairs, or hand its subspaces to other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, command, emit_json, out_console, print_matrix
from mas.errors import MasError
from mas.run_folder import claim_folder


@command
def evaluate(
    run: Path = typer.Argument(..., help="Run folder of `mas align` or `mas lm-align`."),
    pairs: int = typer.Option(1000, help="Fresh pairs per direction, drawn as the run drew its own "
                              "(with --pairs-file: the file's first pairs, at most this many)."),
    seed: int = typer.Option(12345, help="Seed of the fresh pairs (the run's own used small seeds)."),
    pairs_file: Optional[str] = typer.Option(
        None, "--pairs-file", help="For a `mas lm-align` run: score the first --pairs pairs of this JSONL file "
        "(or shipped example, e.g. capitals), positions resolved with each model's tokenizer."
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Apply a run's saved rotations to new pairs: IIA per direction beside untrained rotations."""
    from mas.experiments.artifacts import evaluate_run
    from mas.lm.pair_files import pair_file_path

    results = evaluate_run(run, pairs, seed, None if pairs_file is None else pair_file_path(pairs_file))
    which = f"the {results['pairs']} pairs of {pairs_file}" if pairs_file else f"{results['pairs']} new pairs"
    print_matrix(f"IIA of {run} on {which} (trial accuracy), k={results['k']}", results["models"],
                 results["iia_matrix"])
    out_console.print(f"untrained-rotation control (max over directions): {results['control_iia']:.3f}")
    if json_out:
        emit_json(results)


@command
def export(
    run: Path = typer.Argument(..., help="Run folder of `mas align` or `mas lm-align`."),
    out: Optional[Path] = typer.Option(None, help="Folder for the two files (default: the run folder; "
                                       "needed with --to pyvene)."),
    to: str = typer.Option("mas", "--to", help="mas: subspaces as safetensors; pyvene: a pyvene "
                           "LowRankRotatedSpaceIntervention folder per model (`mas lm-align` runs)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write each model's learned subspace (the first k columns of Q) as safetensors, with a JSON of what it is,
    or as pyvene interventions that `pyvene.IntervenableModel.load` reads."""
    from mas.experiments.artifacts import EXPORT, METADATA, SUBSPACES, export_marker, export_run

    if to == "pyvene":
        _export_pyvene(run, out, overwrite, json_out)
        return
    if to != "mas":
        raise MasError(f"--to {to!r}: use mas or pyvene")
    if out is not None:
        claim_folder(out, EXPORT, export_marker(run), overwrite=overwrite)
    metadata = export_run(run, out)
    folder = out or run
    out_console.print(f"{len(metadata['models'])} subspaces of width k={metadata['k']}: {folder / SUBSPACES}, "
                      f"{folder / METADATA}")
    if json_out:
        emit_json(metadata)


def _export_pyvene(run: Path, out: Optional[Path], overwrite: bool, json_out: bool) -> None:
    from mas.interop.pyvene import PYVENE_EXPORT, export_pyvene

    if out is None:
        raise MasError("--to pyvene needs --out FOLDER (a folder of its own)")
    claim_folder(out, PYVENE_EXPORT, {"run": str(run)}, overwrite=overwrite)
    metadata = export_pyvene(run, out)
    out_console.print(f"{len(metadata['folders'])} pyvene interventions of rank k={metadata['k']} in {out}: "
                      + ", ".join(metadata["folders"]))
    if json_out:
        emit_json(metadata)
