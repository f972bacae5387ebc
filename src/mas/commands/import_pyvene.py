"""`mas import-pyvene`: a rotation trained in pyvene as a run folder that `mas evaluate` scores."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, command, emit_json, out_console
from mas.run_folder import claim_folder


@command(work="lm")
def import_pyvene(
    folder: Path = typer.Argument(..., help="A folder pyvene's IntervenableModel.save wrote (one "
                                  "LowRankRotatedSpaceIntervention at a block's input or output)."),
    model: str = typer.Option(..., "--model", help="The Hugging Face model (folder or cached id) it was trained on."),
    out: Path = typer.Option(..., help="The run folder to write."),
    name: Optional[str] = typer.Option(None, help="The model's label in results (default: --model)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Turn a pyvene rotated-space intervention into a run folder for `mas evaluate` and `mas export`."""
    from mas.interop.pyvene import IMPORT, import_pyvene as import_folder

    claim_folder(out, IMPORT, {"folder": str(folder), "model": model}, overwrite=overwrite)
    results = import_folder(folder, model, out, name)
    out_console.print(f"a rank-{results['k']} subspace at {results['site']} of {results['models'][0]}: {out}")
    if json_out:
        emit_json(results)
