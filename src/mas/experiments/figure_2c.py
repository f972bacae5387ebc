"""Figure 2c: do LMs fine-tuned on toxic text align better with each other than with non-toxic ones?

Several copies of one base model are fine-tuned on toxic texts (label 1) and several on non-toxic
texts (label 0), as the reference did: each copy on its own disjoint share of its group's texts,
with its own seed, full fine-tuning at a high rate with a large effective batch (gradient
accumulation). Each copy's held-out loss on toxic and non-toxic texts, beside the base model's,
shows that the fine-tunes moved away from the base and from each other. Stepwise MAS then aligns
all of them at once, and each pair on its own as the reference did, on sequences each model
writes itself (a prompt continued greedily; the labels are the source's own next tokens) at the
embeddings (k = half the width: at a later site, positions after t still read the target's
unpatched lower layers, which caps IIA). Each n×n IIA matrix is summarised by group:
toxic↔toxic, non-toxic↔non-toxic and toxic↔non-toxic, beside the untrained-rotation control.

Two profiles set the defaults. The paper's (any Hugging Face base, for a GPU): 3 + 3 copies, 600
steps of 24 × 4 = 96 texts of 64 tokens at lr 6e-4. The CPU one, for the shipped SmolLM2-135M
GGUF, keeps the design at the scale of minutes on two cores; every setting can be overridden.

Fine-tuned models are kept under `OUT/models/` and reused by a later run with the same settings,
so an interrupted figure resumes after its last finished model. `OUT/mas/` is the alignment's run
folder; `OUT/figure_2c.png`, `OUT/iia.csv` and `OUT/results.json` are the figure.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from itertools import combinations, product
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field

from mas.adapters.hf import HFAdapter, check_config, load_causal_lm, load_config, load_tokenizer
from mas.align import AlignConfig
from mas.align.directions import DirectionSampling
from mas.devices import model_device
from mas.errors import MasError
from mas.experiments.lm_alignment import LMAlignmentJob, matrix_csv, run_lm_alignment
from mas.experiments.outputs import OUTPUTS
from mas.io import atomic_write_bytes, read_json, write_json
from mas.lm.data import load_texts
from mas.lm.finetune import FinetuneConfig, finetune, heldout_loss, texts_digest
from mas.lm.pairs import MARGIN
from mas.lm.smollm2 import smollm2_gguf
from mas.plots import iia_heatmap
from mas.progress import JobLog
from mas.run_folder import check_replaceable, read_marker, write_marker
from mas.runner import JobRunner, Resources

GROUPS = {"toxic": 1, "nontoxic": 0}  # group name -> label of its fine-tuning texts


class Figure2cConfig(BaseModel):
    """The whole experiment; `None` fields take the profile's default (see `with_profile`)."""

    base_model: str | None = Field(None, description="id, folder or .gguf file (default: shipped SmolLM2)")
    gguf_file: str | None = None
    data: str = Field("insults", description="labelled fine-tuning texts")
    prompts: str = Field("insults:test", description="MAS prompts, held out from fine-tuning")
    toxic: int | None = Field(None, ge=1)
    nontoxic: int | None = Field(None, ge=1)
    finetune_steps: int | None = Field(None, ge=1)
    finetune_lr: float | None = Field(None, gt=0)
    finetune_length: int | None = Field(None, ge=2)
    finetune_batch: int | None = Field(None, ge=1, description="texts per micro-batch")
    finetune_accumulate: int | None = Field(None, ge=1, description="micro-batches per fine-tuning step")
    heldout_texts: int | None = Field(None, ge=1, description="held-out texts per group for each copy's loss")
    lora_rank: int | None = Field(None, ge=0)
    site: str | None = None
    k: int | None = Field(None, ge=1)
    length: int | None = Field(None, ge=21)
    prompt_length: int | None = Field(None, ge=1, description="prompt tokens each model continues greedily to `length`")
    align_steps: int | None = Field(None, ge=1)
    align_batch: int | None = Field(None, ge=1)
    align_lr: float | None = Field(None, gt=0)
    direction_sampling: DirectionSampling | None = Field(
        None, description="all: every direction at every MAS step (n² target passes); derangement: n a step")
    pairs: int | None = Field(None, ge=1)
    test_pairs: int | None = Field(None, ge=1)
    pairwise: bool = Field(True, description="also one alignment per model pair (four directions), as the reference ran")
    seed: int = 0
    profile: Literal["auto", "cpu", "paper"] = Field(
        "auto", description="auto: the paper's on a GPU or for any other base, the CPU profile for the shipped GGUF on a CPU")

    def base(self) -> str:
        return self.base_model if self.base_model is not None else str(smollm2_gguf())

    def with_profile(self, width: int) -> "Figure2cConfig":
        """Fill unset fields from the CPU profile or the paper's (see `profile`); `width` is the base's hidden size."""
        small = self.profile == "cpu" or (
            self.profile == "auto" and self.base_model is None and model_device(0).type != "cuda")
        profile = cpu_profile(width) if small else paper_profile(width)
        filled = {name: profile.get(name) if value is None else value for name, value in self.model_dump().items()}
        return Figure2cConfig(**filled)


def cpu_profile(width: int) -> dict:
    """The paper's design at the scale of minutes on two CPU cores (unverified at the paper's scale).

    A full fine-tuning step of SmolLM2 costs several CPU-seconds per sequence of 32 tokens (all 30
    blocks forward and backward plus AdamW over 135 M weights), so fine-tuning dominates: 2 + 2
    copies of 16 steps of 4 × 6 texts, at the paper's rate. With one micro-batch of 4 a step, every
    copy's held-out loss rose and two copies agreed on 39 % of next tokens; 6 micro-batches a step
    lower each copy's loss on its own group's texts and lift that agreement to 59 % (measured, see
    the reproduction guide). MAS at the embeddings runs every block forward and backward, so short
    pairs, and n target passes a step (derangement) instead of n²: at the first budget (30 steps of 2
    pairs, every direction every step) IIA equalled the untrained-rotation control, while 200 steps of 4
    pairs lifted the base model's own swap from 0.510 to 0.601. With 150 such steps the whole figure
    took 3,548 s on two cores.
    """
    return dict(
        toxic=2, nontoxic=2, finetune_steps=16, finetune_lr=6e-4, finetune_length=32, finetune_batch=4,
        finetune_accumulate=6, heldout_texts=16, lora_rank=0, site="embed", k=width // 2, length=32, prompt_length=16,
        align_steps=150, align_batch=4, align_lr=2e-3, direction_sampling="derangement", pairs=64, test_pairs=24,
    )


def paper_profile(width: int) -> dict:
    """The reference's setting, for a GPU: 3 + 3 copies, 600 full fine-tuning steps of 24 × 4 texts of 64
    tokens at lr 6e-4; MAS at the embeddings with k = width / 2 at lr 2e-3, on 32-token prompts each model
    continues to 64."""
    return dict(
        toxic=3, nontoxic=3, finetune_steps=600, finetune_lr=6e-4, finetune_length=64, finetune_batch=24,
        finetune_accumulate=4, heldout_texts=256, lora_rank=0, site="embed", k=width // 2, length=64, prompt_length=32,
        align_steps=1000, align_batch=16, align_lr=2e-3, direction_sampling="all", pairs=512, test_pairs=128,
    )


def disjoint_share(texts: list[str], index: int, count: int) -> list[str]:
    """Copy `index`'s share of its group's texts: the `index`-th of `count` contiguous, disjoint blocks."""
    if not 0 <= index < count:
        raise MasError(f"copy {index} of {count} has no share")
    if len(texts) < count:
        raise MasError(f"{len(texts)} texts cannot give {count} copies a share each")
    bounds = np.linspace(0, len(texts), count + 1).astype(int)
    return texts[bounds[index]: bounds[index + 1]]


def _finetune_config(cfg: Figure2cConfig, seed: int) -> FinetuneConfig:
    return FinetuneConfig(
        steps=cfg.finetune_steps, batch_size=cfg.finetune_batch, accumulate=cfg.finetune_accumulate,
        length=cfg.finetune_length, lr=cfg.finetune_lr, lora_rank=cfg.lora_rank, seed=seed,
    )


def model_plan(cfg: Figure2cConfig) -> list[tuple[str, int, int]]:
    """(name, label, seed) of every fine-tuned copy: toxic-0.., then nontoxic-0..; seeds differ."""
    counts = {"toxic": cfg.toxic, "nontoxic": cfg.nontoxic}
    return [(f"{group}-{i}", GROUPS[group], cfg.seed + i) for group in GROUPS for i in range(counts[group])]


def copy_texts(cfg: Figure2cConfig, texts: dict[int, list[str]]) -> dict[str, list[str]]:
    """Each copy's own disjoint share of its group's texts, by copy name."""
    counts = {GROUPS["toxic"]: cfg.toxic, GROUPS["nontoxic"]: cfg.nontoxic}
    return {name: disjoint_share(texts[label], int(name.rpartition("-")[2]), counts[label])
            for name, label, _ in model_plan(cfg)}


def _is_done(folder: Path, config: FinetuneConfig, texts: list[str]) -> bool:
    """A finished copy with exactly these settings, fine-tuned on exactly these texts."""
    record = folder / "finetune.json"
    marker = read_marker(folder) or {}
    return (record.is_file() and read_json(record).get("config") == asdict(config)
            and marker.get("settings", {}).get("texts") == texts_digest(texts))


class BaseModelSource:
    """The base model every copy starts from, loaded on first use and once per process: in this
    process for every copy, on a Ray worker once for the copies that worker fine-tunes."""

    def __init__(self, base: str, gguf_file: str | None, texts: dict[str, list[str]]) -> None:
        self.base, self.gguf_file, self.texts = base, gguf_file, texts
        self._loaded: tuple | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loaded": None}  # workers load their own copy from the path

    def fresh_copy(self) -> tuple:
        """(tokenizer, a copy of the base model that fine-tuning may change)."""
        if self._loaded is None:
            self._loaded = (load_tokenizer(self.base, self.gguf_file), load_causal_lm(self.base, self.gguf_file))
        tokenizer, model = self._loaded
        return tokenizer, copy.deepcopy(model)


@dataclass(frozen=True)
class CopyJob:
    """One fine-tuned copy: its name, the label of its texts, its folder and settings."""

    name: str
    label: int
    folder: Path
    config: FinetuneConfig


def finetune_copy(source: BaseModelSource, job: CopyJob) -> dict:
    """Fine-tune one copy into its folder, in the form a job runner calls."""
    start = time.perf_counter()
    tokenizer, model = source.fresh_copy()
    finetune(model, source.texts[job.name], job.folder, job.config, tokenizer=tokenizer)
    return {"name": job.name, "seconds": round(time.perf_counter() - start, 1)}


def finetune_copies(
    cfg: Figure2cConfig, out: Path, texts: dict[int, list[str]], log: Callable[[str], None] = print,
    runner: JobRunner | None = None,
) -> list[Path]:
    """Fine-tune (or reuse) every copy, each a job on `runner` (in this process by default).

    On Ray each copy asks for one CPU, or one GPU where this machine has one, and writes its own
    folder, so on a cluster OUT must be a folder every node sees.
    """
    shares = copy_texts(cfg, texts)
    jobs = [CopyJob(name, label, out / "models" / name, _finetune_config(cfg, seed)) for name, label, seed in model_plan(cfg)]
    todo = [job for job in jobs if not _is_done(job.folder, job.config, shares[job.name])]
    resources = Resources(cpus=1, gpus=1.0 if torch.cuda.is_available() else 0.0)
    progress = JobLog(len(jobs), len(jobs) - len(todo))
    if todo:
        log(f"fine-tuning {', '.join(job.name for job in todo)} ({cfg.finetune_steps} steps each)")
    source = BaseModelSource(cfg.base(), cfg.gguf_file, shares)
    for index, result in (runner or JobRunner()).map(finetune_copy, source, todo, resources):
        progress.finished(f"fine-tune {todo[index].name}", result["seconds"], "saved")
    return [job.folder for job in jobs]


def group_summary(matrix: list[list[float]], names: list[str]) -> dict:
    """Mean, spread and range of off-diagonal IIA per group pair, plus the diagonal (DAS)."""
    group = [name.split("-")[0] for name in names]
    cells: dict[str, list[float]] = {"toxic<->toxic": [], "nontoxic<->nontoxic": [], "toxic<->nontoxic": [], "self": []}
    for s, t in product(range(len(names)), repeat=2):
        if s == t:
            key = "self"
        elif group[s] == group[t]:
            key = f"{group[s]}<->{group[t]}"
        else:
            key = "toxic<->nontoxic"
        cells[key].append(matrix[s][t])
    return {
        key: {"mean": float(np.mean(v)), "std": float(np.std(v)), "min": float(min(v)), "max": float(max(v)), "n": len(v)}
        for key, v in cells.items()
        if v
    }


def preflight(cfg: Figure2cConfig) -> tuple[Figure2cConfig, dict[int, list[str]]]:
    """Resolve the profile and check the base, site, lengths and data before any long work."""
    base_config = load_config(cfg.base(), cfg.gguf_file)
    cfg = cfg.with_profile(base_config.hidden_size)
    check_config(base_config, cfg.base(), cfg.site, max(cfg.length, cfg.finetune_length))
    if cfg.k > base_config.hidden_size:
        raise MasError(f"k = {cfg.k} is larger than the width ({base_config.hidden_size}) of {cfg.base()}")
    _finetune_config(cfg, cfg.seed).check()
    if cfg.prompt_length is not None and cfg.prompt_length > cfg.length - MARGIN:
        raise MasError(f"prompts of {cfg.prompt_length} tokens leave no room to continue to --length {cfg.length} "
                       f"(at most {cfg.length - MARGIN})")
    texts = {label: load_texts(cfg.data, label=label) for label in GROUPS.values()}
    copy_texts(cfg, texts)
    for label in GROUPS.values():
        if not load_texts(cfg.prompts, label=label):
            raise MasError(f"{cfg.prompts} has no held-out texts with label {label}")
    return cfg, texts


def heldout_losses(cfg: Figure2cConfig, folders: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Per model (the base first, then every copy), its held-out loss on toxic and on non-toxic texts
    (`cfg.prompts`, never fine-tuned on): the fine-tunes should differ from the base and by group."""
    held = {group: load_texts(cfg.prompts, label=label)[: cfg.heldout_texts] for group, label in GROUPS.items()}
    models = {"base": (cfg.base(), cfg.gguf_file), **{name: (str(f), None) for name, f in folders.items()}}
    out = {}
    for name, (path, gguf) in models.items():
        tokenizer, model = load_tokenizer(path, gguf), load_causal_lm(path, gguf).to(model_device(0))
        out[name] = {group: round(heldout_loss(model, tokenizer, texts, cfg.finetune_length), 4)
                     for group, texts in held.items()}
    return out


def pairwise_matrix(
    job: LMAlignmentJob, adapters: list[HFAdapter], tokenizer: object, out: Path, log: Callable[[str], None]
) -> dict:
    """One alignment per model pair (its four directions, its own rotations), as the reference ran them: the
    n×n token IIA matrices of the trained and of the untrained-rotation control, cell (s, t) from the run of
    {s, t}, the diagonal averaged over a model's runs."""
    n = len(adapters)
    cells: dict[str, dict[tuple[int, int], list[float]]] = {"token": {}, "control": {}}
    for a, b in combinations(range(n), 2):
        names = [job.labels()[a], job.labels()[b]]
        pair_job = job.model_copy(update={"models": [job.models[a], job.models[b]], "names": names})
        result = run_lm_alignment(pair_job, out / f"{names[0]}+{names[1]}", adapters=[adapters[a], adapters[b]],
                                  tokenizer=tokenizer)
        for (i, s), (j, t) in product(enumerate((a, b)), repeat=2):
            cells["token"].setdefault((s, t), []).append(result["token_matrix"][i][j])
            cells["control"].setdefault((s, t), []).append(result["control_token_matrix"][i][j])
        log(f"pairwise MAS {names[0]} + {names[1]}: {result['token_matrix'][0][1]:.3f} / {result['token_matrix'][1][0]:.3f}")
    return {kind: [[float(np.mean(c[(s, t)])) for t in range(n)] for s in range(n)] for kind, c in cells.items()}


def run_figure_2c(
    cfg: Figure2cConfig, out: Path, log: Callable[[str], None] = print, runner: JobRunner | None = None
) -> dict:
    """Fine-tune the copies (jobs on `runner`), align them all, and write the figure with its table."""
    start = time.perf_counter()
    cfg, texts = preflight(cfg)
    # The folder accumulates fine-tuned copies (each checks its own settings) and the latest results.
    check_replaceable(out)
    write_marker(out, OUTPUTS["2c"].marker)  # its settings live with each fine-tuned copy
    folders = finetune_copies(cfg, out, texts, log, runner)
    names = [name for name, _, _ in model_plan(cfg)]
    losses = heldout_losses(cfg, dict(zip(names, folders)))
    for name, loss in losses.items():
        log(f"held-out loss of {name}: toxic {loss['toxic']:.3f}, non-toxic {loss['nontoxic']:.3f}")
    finetune_seconds = time.perf_counter() - start
    job = LMAlignmentJob(
        models=[str(f) for f in folders], names=names, site=cfg.site, data=cfg.prompts, length=cfg.length,
        prompt_length=cfg.prompt_length,
        train_pairs=cfg.pairs, test_pairs=cfg.test_pairs,
        align=AlignConfig(k=cfg.k, steps=cfg.align_steps, lr=cfg.align_lr, batch_size=cfg.align_batch, seed=cfg.seed,
                          eval_every=max(1, cfg.align_steps // 10), direction_sampling=cfg.direction_sampling),
    )
    adapters = [HFAdapter(f, name=n, cache_states=True, device=model_device(i)) for i, (f, n) in enumerate(zip(folders, names))]
    tokenizer = load_tokenizer(folders[0])
    mas = run_lm_alignment(job, out / "mas", adapters=adapters, tokenizer=tokenizer)
    pairwise = pairwise_matrix(job, adapters, tokenizer, out / "mas-pairs", log) if cfg.pairwise else None
    results = {
        "models": names,
        "token_matrix": mas["token_matrix"],
        "trial_matrix": mas["trial_matrix"],
        "groups": group_summary(mas["token_matrix"], names),
        "trial_groups": group_summary(mas["trial_matrix"], names),
        "control_token_matrix": mas["control_token_matrix"],
        "control_groups": group_summary(mas["control_token_matrix"], names),
        **({} if pairwise is None else {"pairwise_token_matrix": pairwise["token"],
                                         "pairwise_control_token_matrix": pairwise["control"],
                                         "pairwise_groups": group_summary(pairwise["token"], names),
                                         "pairwise_control_groups": group_summary(pairwise["control"], names)}),
        "heldout_loss": losses,
        "finetune_seconds": round(finetune_seconds, 1),
        "align_seconds": mas["seconds"],
        "seconds": round(time.perf_counter() - start, 1),
        "config": cfg.model_dump(),
    }
    files = OUTPUTS["2c"]
    write_json(out / files.results, results)
    atomic_write_bytes(out / files.csv, matrix_csv(names, mas["token_matrix"], mas["trial_matrix"]))
    title = f"Figure 2c: stepwise MAS token IIA ({cfg.site}, k={cfg.k})"
    iia_heatmap(mas["token_matrix"], names, out / files.png, title=title)
    return results


__all__ = ["Figure2cConfig", "group_summary", "model_plan", "run_figure_2c"]
