"""`mas zoo`: a population of models aligned jointly in one space, with its IIA, CKA and RSA maps."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.align import AlignConfig
from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, RUNS, command, emit_json, out_console, print_matrix, setting
from mas.experiments.zoo import ZooJob, zoo_align_config
from mas.run_folder import claim_folder

ZOO = zoo_align_config()  # the zoo's alignment defaults, which the options below show


@command
def zoo(
    models: list[Path] = typer.Argument(..., help="Model folders written by `mas train` (any tasks; distinct names)."),
    add_to: Optional[Path] = typer.Option(
        None, "--add-to", help="A finished zoo run: align MODELS into its space, its rotations frozen, "
        "and extend its matrices (one rotation trained per new model)."),
    site: str = typer.Option("hidden", help="One site for all models, or one per model, comma-separated."),
    k: int = typer.Option(ZOO.k, help="Size of the swapped aligned subspace."),
    steps: int = typer.Option(ZOO.steps, help="Training steps (each trains about n of the n² directions)."),
    lr: float = setting(AlignConfig, "lr", help="Peak learning rate (cosine-decayed)."),
    batch_size: int = typer.Option(ZOO.batch_size, help="Pairs per direction per step."),
    direction_sampling: str = typer.Option(
        ZOO.direction_sampling, help="derangement (n directions a step) or all (n² a step)."),
    pairs: int = setting(ZooJob, "train_pairs", "--pairs", help="Training pairs per pair of task groups."),
    test_pairs: int = setting(ZooJob, "test_pairs", help="Held-out pairs each direction is scored on."),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="Run folder (default runs/zoo/<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Align n models in one shared space (cost per step linear in n) and map who computes alike.

    Writes results.json, iia.json, iia.csv, cka.csv, rsa.csv, rotations.safetensors, zoo.png (the
    clustered heat maps) and embedding.png. With --add-to, the other options come from that run.
    """
    from mas.experiments.zoo import ZooAddition, add_to_zoo, read_zoo, run_zoo

    folder_name = time.strftime("%Y%m%d-%H%M%S")
    if add_to is not None:
        read_zoo(add_to)  # a one-line error before any work if it is not a finished zoo run
        addition = ZooAddition(base=add_to, models=models, sites=site.split(","))
        folder = claim_folder(out or RUNS / "zoo" / folder_name, "zoo", addition, overwrite=overwrite)
        results = add_to_zoo(addition, folder)
    else:
        config = ZOO.model_dump()
        config.update(k=k, steps=steps, lr=lr, batch_size=batch_size, seed=seed, direction_sampling=direction_sampling)
        job = ZooJob(models=models, sites=site.split(","), train_pairs=pairs, test_pairs=test_pairs,
                     align=AlignConfig(**config))
        folder = claim_folder(out or RUNS / "zoo" / folder_name, "zoo", job, overwrite=overwrite)
        results = run_zoo(job, folder)
    print_matrix(f"held-out IIA (trial accuracy), k={results['k']}", results["models"], results["iia_matrix"])
    out_console.print(f"clustered order: {', '.join(results['cluster_order'])}")
    out_console.print(f"steps {results['steps']}, {results['seconds']:.1f} s; results in {folder}/")
    if json_out:
        emit_json({"models": results["models"], "iia_matrix": results["iia_matrix"],
                   "cluster_order": results["cluster_order"], "seconds": results["seconds"], "run": str(folder)})
