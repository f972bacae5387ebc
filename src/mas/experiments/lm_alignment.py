"""Stepwise MAS between causal language models: n rotations, all n² directions, one IIA matrix.

Every model reads prompts from one text set through one shared tokenizer. For a direction (s, t)
the target's states at positions 0..t are swapped (in the first k aligned dims) for the source's,
the target then reads the source's tokens, and it scores when it predicts the source model's own
greedy tokens at positions >= t (teacher-forced). Prompts used for training and for the held-out
test are disjoint.

A run folder holds `results.json` (token and trial IIA per direction, both n×n matrices, a
never-trained rotation control, timings, the job), `iia.csv`, `iia.png` and `rotations.safetensors`.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field

from mas.adapters.hf import HFAdapter, check_config, load_config, load_tokenizer
from mas.align import AlignConfig, AlignmentTrainer, Direction, Rotations, all_directions
from mas.devices import model_device
from mas.errors import MasError
from mas.evaluate import Score, evaluate_iia, iia_matrix, scores_json
from mas.io import atomic_write_bytes, write_json
from mas.lm.data import load_texts
from mas.lm.pair_files import pair_sets_from_file, read_pair_file
from mas.lm.pairs import MARGIN, build_lm_pair_sets
from mas.plots import iia_heatmap
from mas.run_folder import staged_folder
from mas.tasks.pairs import PairSet

EVAL_BATCH = 32  # pairs per evaluation pass: bounds the (B, L, vocabulary) logits held at once


class LMAlignmentJob(BaseModel):
    """Everything a stepwise LM alignment needs; saved beside its results."""

    models: list[str] = Field(min_length=1, description="Hugging Face ids, folders or .gguf files")
    names: list[str] | None = Field(None, description="labels for the matrix (default: the model strings)")
    site: str = Field("layers.20", description="embed, layers.<i>, layers.<i>.attn or layers.<i>.mlp, the same for every model")
    data: str = Field("insults:test", description="prompt texts: a file, 'insults' or 'insults:test'")
    pairs: str | None = Field(None, description="a JSONL pair file (mas.lm.pair_files) used instead of `data`")
    length: int = Field(32, ge=2 * MARGIN + 1, description="tokens per sequence")
    prompt_length: int | None = Field(
        None, ge=1, description="when set, every sequence is a model's own greedy continuation of a prompt of this many "
        "tokens to `length` (the reference's protocol); else natural text cut to `length`",
    )
    train_pairs: int = Field(64, ge=1, description="training pairs per direction")
    test_pairs: int = Field(32, ge=1, description="held-out pairs per direction")
    dtype: str | None = Field(None, description="model dtype (default float32 on CPU, bfloat16 on GPU)")
    align: AlignConfig = Field(default_factory=lambda: AlignConfig(k=64, steps=200, lr=1e-3, batch_size=8))

    def labels(self) -> list[str]:
        if self.names is None:
            return list(self.models)
        if len(self.names) != len(self.models):
            raise MasError(f"{len(self.models)} models but {len(self.names)} names")
        return list(self.names)


def preflight(job: LMAlignmentJob) -> None:
    """Refuse unknown models, a site beyond the layers, prompts beyond the context, a k wider than
    a model, or unusable prompt data, from configurations alone, before any weights are loaded."""
    job.labels()
    if job.pairs is not None:
        read_pair_file(Path(job.pairs))
    else:
        load_texts(job.data)
    for model in job.models:
        config = load_config(model)
        check_config(config, model, job.site, job.length)
        if job.align.k > config.hidden_size:
            raise MasError(f"k = {job.align.k} is larger than the width ({config.hidden_size}) of model {model}")


def load_lms(job: LMAlignmentJob) -> list[HFAdapter]:
    """Each model once, on its device, with its site states cached (training revisits the same target prompts)."""
    return [
        HFAdapter(model, dtype=job.dtype, name=name, cache_states=True, device=model_device(i))
        for i, (model, name) in enumerate(zip(job.models, job.labels()))
    ]


def check_compatible(adapters: Sequence[HFAdapter], site: str) -> None:
    """All models must share one vocabulary (one tokenizer serves them all) and have the site."""
    sizes = {a.name: a.model.get_input_embeddings().num_embeddings for a in adapters}
    if len(set(sizes.values())) > 1:
        raise MasError(f"the models do not share a vocabulary: {sizes}")
    for adapter in adapters:
        adapter.width(site)


def split_texts(texts: Sequence[str], seed: int, test_share: float = 0.3) -> tuple[list[str], list[str]]:
    """Disjoint training and test prompts, shuffled with `seed`."""
    order = np.random.default_rng(seed).permutation(len(texts))
    cut = max(1, round(len(texts) * (1 - test_share)))
    if cut >= len(texts):
        raise MasError(f"need at least two texts to hold some out, got {len(texts)}")
    return [texts[i] for i in order[:cut]], [texts[i] for i in order[cut:]]


def file_pair_sets(job: LMAlignmentJob) -> tuple[dict[Direction, PairSet], dict[Direction, PairSet]]:
    """Training and held-out pairs of every direction from the job's pair file, each model
    reading them through its own tokenizer; at most `train_pairs` / `test_pairs` of each."""
    path = Path(job.pairs)  # type: ignore[arg-type]
    specs = read_pair_file(path)
    order = np.random.default_rng(job.align.seed).permutation(len(specs)).tolist()
    cut = max(1, round(len(specs) * 0.7))
    tokenizers = [load_tokenizer(model) for model in job.models]
    train, test = order[:cut][: job.train_pairs], order[cut:][: job.test_pairs]
    return tuple(pair_sets_from_file(specs, tokenizers, job.models, path, index) for index in (train, test))  # type: ignore[return-value]


def matrix_csv(labels: Sequence[str], token: list[list[float | None]], trial: list[list[float | None]]) -> bytes:
    """One row per direction: source, target, token IIA, trial IIA."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "target", "token_iia", "trial_iia"])
    for s, source in enumerate(labels):
        for t, target in enumerate(labels):
            writer.writerow([source, target, token[s][t], trial[s][t]])
    return buffer.getvalue().encode()


def run_lm_alignment(
    job: LMAlignmentJob,
    out: Path,
    *,
    adapters: Sequence[HFAdapter] | None = None,
    tokenizer: object | None = None,
    show_progress: bool = True,
) -> dict:
    """Train the rotations on all directions, then score held-out IIA beside untrained rotations.

    `adapters` and `tokenizer` may be passed already built (e.g. models just fine-tuned in memory);
    otherwise they are loaded from `job.models` (the tokenizer from the first model).
    """
    start = time.perf_counter()
    labels = job.labels()
    texts = load_texts(job.data) if job.pairs is None else []
    if adapters is None:
        adapters = load_lms(job)
    if tokenizer is None:
        tokenizer = load_tokenizer(job.models[0])
    n, seed = len(adapters), job.align.seed
    if job.pairs is not None:
        for adapter in adapters:
            adapter.width(job.site)
        train, test = file_pair_sets(job)
    else:
        check_compatible(adapters, job.site)
        train_texts, test_texts = split_texts(texts, seed)
        train = build_lm_pair_sets(adapters, tokenizer, train_texts, job.length, job.train_pairs, seed=seed,
                                   prompt_length=job.prompt_length)
        test = build_lm_pair_sets(adapters, tokenizer, test_texts, job.length, job.test_pairs, seed=seed + 1,
                                  prompt_length=job.prompt_length)
    trainer = AlignmentTrainer(adapters, [job.site] * n, job.align)
    fit = trainer.fit(train, show_progress=show_progress)
    scores = evaluate_iia(trainer, fit.rotations, test, free_running=False, batch_size=EVAL_BATCH)
    untrained = Rotations(trainer.widths, seed=seed + 10_000)
    control = evaluate_iia(trainer, untrained, test, free_running=False, batch_size=EVAL_BATCH)
    results = summarise(job, labels, scores, control)
    results.update(
        steps=fit.steps,
        train_seconds=round(fit.seconds, 2),
        seconds=round(time.perf_counter() - start, 2),
        history=fit.history,
        job=job.model_dump(mode="json"),
    )
    with staged_folder(out, "lm-align", job) as folder:
        fit.rotations.save(folder / "rotations.safetensors")
        write_json(folder / "results.json", results)
        atomic_write_bytes(folder / "iia.csv", matrix_csv(labels, results["token_matrix"], results["trial_matrix"]))
        title = f"stepwise MAS token IIA, {job.site}, k={job.align.k}"
        iia_heatmap(results["token_matrix"], labels, folder / "iia.png", title=title)
    return results


def summarise(
    job: LMAlignmentJob, labels: list[str], scores: dict[Direction, Score], control: dict[Direction, Score]
) -> dict:
    n = len(labels)
    return {
        "models": labels,
        "site": job.site,
        "k": job.align.k,
        "length": job.length,
        "token_iia": scores_json(scores, "token"),
        "trial_iia": scores_json(scores, "trial"),
        "token_matrix": iia_matrix(scores, n, "token"),
        "trial_matrix": iia_matrix(scores, n, "trial"),
        "control_token_iia": scores_json(control, "token"),
        "control_token_matrix": iia_matrix(control, n, "token"),
        "directions": len(all_directions(n)),
    }


__all__ = ["LMAlignmentJob", "load_lms", "preflight", "run_lm_alignment", "split_texts"]
