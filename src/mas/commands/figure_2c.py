"""`mas figure 2c`: IIA between toxic and non-toxic fine-tunes of one base LM."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mas.commands._shared import (
    JSON_HELP,
    OVERWRITE_HELP,
    RAY_ADDRESS,
    RUNS,
    WORKERS,
    emit_json,
    figure_command,
    log_line,
    note_resume,
    out_console,
    print_matrix,
)
from mas.experiments.outputs import OUTPUTS
from mas.run_folder import claim_folder

PROFILE = "Default: from --profile."


@figure_command("2c", work="lm")
def figure_2c(
    base_model: Optional[str] = typer.Option(None, help="Hugging Face id, folder or .gguf file (default: shipped SmolLM2-135M-Instruct)."),
    gguf_file: Optional[str] = typer.Option(None, help="GGUF file name inside BASE_MODEL when it is a folder."),
    data: str = typer.Option("insults", help="Labelled fine-tuning texts (label 1 = toxic, 0 = non-toxic)."),
    prompts: str = typer.Option("insults:test", help="MAS prompts, held out from fine-tuning."),
    toxic: Optional[int] = typer.Option(None, help=f"Toxic copies. {PROFILE}"),
    nontoxic: Optional[int] = typer.Option(None, help="Non-toxic copies."),
    finetune_steps: Optional[int] = typer.Option(None, help="Fine-tuning steps per copy."),
    finetune_lr: Optional[float] = typer.Option(None),
    finetune_batch: Optional[int] = typer.Option(None, help="Texts per fine-tuning micro-batch."),
    finetune_accumulate: Optional[int] = typer.Option(
        None, help="Micro-batches per fine-tuning step (gradient accumulation; effective batch = batch × this)."),
    heldout_texts: Optional[int] = typer.Option(None, help="Held-out texts per group for each copy's loss."),
    lora_rank: Optional[int] = typer.Option(None, help="0 = full fine-tuning."),
    site: Optional[str] = typer.Option(None, help="MAS site: embed (the profiles' choice) or layers.<i>."),
    k: Optional[int] = typer.Option(None, help="Aligned subspace size (profiles: half the width)."),
    length: Optional[int] = typer.Option(None, help="Tokens per MAS sequence."),
    prompt_length: Optional[int] = typer.Option(
        None, help="Prompt tokens each model continues greedily to --length (profiles: half of it)."),
    align_steps: Optional[int] = typer.Option(None, help="MAS training steps."),
    align_batch: Optional[int] = typer.Option(None, help="Pairs per direction per MAS step."),
    align_lr: Optional[float] = typer.Option(None, help="MAS learning rate."),
    direction_sampling: Optional[str] = typer.Option(
        None, help="MAS directions a step: all (n² target passes; paper profile) or derangement (n; cpu profile)."),
    pairs: Optional[int] = typer.Option(None, help="MAS training pairs per direction."),
    test_pairs: Optional[int] = typer.Option(None, help="Held-out pairs per direction."),
    pairwise: bool = typer.Option(True, "--pairwise/--joint-only",
                                  help="Also align every model pair on its own (four directions), as the reference did."),
    seed: int = typer.Option(0),
    profile: str = typer.Option(
        "auto", help="Defaults of unset options: cpu (2+2 copies, 16 fine-tuning steps, minutes on 2 cores), paper "
        "(3+3 copies, 600 steps of 24×4 texts at lr 6e-4, for a GPU), or auto: paper on a GPU or for another base, "
        "cpu otherwise. Both: each copy on its own share of the texts, MAS at the embeddings with k = width/2."),
    out: Path = typer.Option(RUNS / OUTPUTS["2c"].folder, help="Run folder (fine-tuned models are kept and reused)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    workers: Optional[int] = WORKERS,
    ray_address: Optional[str] = RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Fine-tune toxic and non-toxic copies of a base LM, align all with stepwise MAS, plot the IIA matrix."""
    from mas.experiments.figure_2c import Figure2cConfig, run_figure_2c
    from mas.runner import open_runner

    cfg = Figure2cConfig(
        base_model=base_model, gguf_file=gguf_file, data=data, prompts=prompts, toxic=toxic, nontoxic=nontoxic,
        finetune_steps=finetune_steps, finetune_lr=finetune_lr, finetune_batch=finetune_batch,
        finetune_accumulate=finetune_accumulate, heldout_texts=heldout_texts, lora_rank=lora_rank, site=site, k=k,
        length=length, prompt_length=prompt_length, align_steps=align_steps, align_batch=align_batch, align_lr=align_lr,
        direction_sampling=direction_sampling, pairs=pairs, test_pairs=test_pairs, pairwise=pairwise, seed=seed,
        profile=profile,
    )
    claim_folder(out, OUTPUTS["2c"].marker, overwrite=overwrite)
    note_resume(f"finished fine-tunes are kept in {out}/models/; run the same command to resume")
    with open_runner(workers, ray_address) as runner:
        results = run_figure_2c(cfg, out, log=log_line, runner=runner)
    print_matrix("held-out token IIA (rows: source, columns: target)", results["models"], results["token_matrix"])
    for key, g in results["groups"].items():
        out_console.print(f"{key:>20}: {g['mean']:.3f} ± {g['std']:.3f} (range {g['min']:.3f}-{g['max']:.3f}, n={g['n']}); "
                          f"untrained-rotation control {results['control_groups'][key]['mean']:.3f}")
    out_console.print(f"{results['seconds']:.0f} s; {out}/")
    if "pairwise_token_matrix" in results:
        print_matrix("pairwise runs: held-out token IIA (rows: source, columns: target)", results["models"],
                     results["pairwise_token_matrix"])
        for key, g in results["pairwise_groups"].items():
            out_console.print(f"{key:>20}: {g['mean']:.3f} ± {g['std']:.3f} (pairwise, n={g['n']}); "
                              f"untrained-rotation control {results['pairwise_control_groups'][key]['mean']:.3f}")
    for name, loss in results["heldout_loss"].items():
        out_console.print(f"held-out loss of {name:>12}: toxic {loss['toxic']:.3f}, non-toxic {loss['nontoxic']:.3f}")
    if json_out:
        emit_json({"token_matrix": results["token_matrix"], "groups": results["groups"],
                   "control_groups": results["control_groups"], "heldout_loss": results["heldout_loss"],
                   "pairwise_groups": results.get("pairwise_groups"), "seconds": results["seconds"], "run": str(out)})
