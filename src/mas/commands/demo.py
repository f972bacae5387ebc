"""`mas demo`: the main job, Multi-Object GRU against GRU, end to end."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from mas.align import AlignConfig
from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, RUNS, command, emit_json, note_resume, out_console
from mas.commands.align import print_alignment
from mas.io import write_json
from mas.run_folder import check_models_dir, check_writable, claim_folder


@command
def demo(
    models_dir: Path = typer.Option(RUNS / "models", help="Where the two GRUs are kept (trained when missing)."),
    out: Path = typer.Option(RUNS / "demo", help="Run folder."),
    steps: int = typer.Option(600, help="Maximum MAS steps."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Multi-Object GRU vs GRU (two seeds): train or reuse both, run MAS, print IIA beside CKA and RSA."""
    from mas.experiments.activations import model_activations, repeated_similarity, summarize
    from mas.experiments.alignment import AlignmentJob, run_alignment
    from mas.models.training import TrainConfig, ensure_model, model_folder

    start = time.perf_counter()
    configs = [TrainConfig(task="multi_object", arch="gru", seed=s) for s in (0, 1)]
    job = AlignmentJob(models=[model_folder(c, models_dir) for c in configs], sites=["hidden"],
                       align=AlignConfig(k=32, steps=steps))
    check_models_dir(models_dir)
    claim_folder(out, "align", job, overwrite=overwrite)
    for cfg in configs:
        check_writable(model_folder(cfg, models_dir), "--models-dir")
    note_resume(f"trained models are kept in {models_dir}; run the same command to go on")
    for cfg in configs:
        ensure_model(cfg, models_dir)
    results = run_alignment(job, out)
    x, y = model_activations(job.models, ["hidden", "hidden"])
    correlational = summarize(repeated_similarity(x, y, ["cka_linear", "rsa_cosine_spearman"]))
    write_json(out / "similarity.json", correlational)
    results["seconds"] = round(time.perf_counter() - start, 2)
    print_alignment(results, out, json_out=False)
    for name, stats in correlational.items():
        out_console.print(f"{name} (hidden, 10 × 1000 rows): {stats['mean']:.3f} ± {stats['std']:.3f}")
    if json_out:
        emit_json({"iia": results["iia"], "control_iia": results["control_iia"], "seconds": results["seconds"],
                   "run": str(out), **{name: stats["mean"] for name, stats in correlational.items()}})
