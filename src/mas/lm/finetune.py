"""Causal-LM fine-tuning of a base model on a text set, for the toxic / non-toxic case study.

Full fine-tuning, or LoRA adapters (peft) merged back into the weights, so every checkpoint is a
plain Hugging Face folder (safetensors weights, config, tokenizer) that `HFAdapter` loads like any
other model. The folder is written to a temporary sibling and renamed, so a crash leaves nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mas.adapters.hf import check_config, load_causal_lm, load_config, load_tokenizer, resolve_dtype
from mas.devices import model_device, resolve_device
from mas.errors import MasError
from mas.io import write_json
from mas.progress import progress_bar
from mas.run_folder import staged_folder


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run; `lora_rank` 0 means full fine-tuning."""

    steps: int = 600
    batch_size: int = 8  # texts per micro-batch
    accumulate: int = 1  # micro-batches per optimiser step: the effective batch is batch_size × accumulate
    length: int = 64
    lr: float | None = None  # None: 2e-5 for full fine-tuning, 2e-4 for LoRA
    lora_rank: int = 0
    lora_alpha: int = 16
    weight_decay: float = 0.0
    seed: int = 0
    device: str | None = None  # None: the command's --device (auto: CUDA where present)
    save_dtype: str = "float32"

    def check(self) -> None:
        for name in ("steps", "batch_size", "accumulate", "length"):
            if getattr(self, name) < 1:
                raise MasError(f"fine-tuning {name} must be at least 1, got {getattr(self, name)}")
        if self.lora_rank < 0:
            raise MasError(f"lora_rank must be >= 0, got {self.lora_rank}")
        if self.lr is not None and not self.lr > 0:
            raise MasError(f"the learning rate must be positive, got {self.lr}")
        resolve_dtype(self.save_dtype, torch.device("cpu"))

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (2e-4 if self.lora_rank else 2e-5)


def finetune_settings(base: str | PathLike | PreTrainedModel, texts: list[str], config: FinetuneConfig) -> dict:
    """What identifies a fine-tune in its run marker: the base, a digest of the texts, and the settings."""
    name = type(base).__name__ if isinstance(base, PreTrainedModel) else str(base)
    return {"base": name, "texts": texts_digest(texts), "config": asdict(config)}


def texts_digest(texts: list[str]) -> str:
    """A short digest of a text set: which texts a fine-tune saw."""
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


def _encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], length: int) -> list[list[int]]:
    """Token ids per text, cut to `length`; texts too short to predict anything are dropped."""
    ids = tokenizer(texts, truncation=True, max_length=length)["input_ids"]
    rows = [row for row in ids if len(row) >= 2]
    if not rows:
        raise MasError("no text is long enough (two tokens) to fine-tune on")
    return rows


class TokenRows:
    """Every text's ids, right-padded once and kept on the training device, with their lengths.

    A batch is a gather of rows cut to the batch's longest text (known on the host), so building
    one copies nothing from the host but its row indices. Padding is on the right and never
    scored, and a causal model's real tokens never attend to later positions, so no attention mask
    is needed: the model takes its plain causal path (on a GPU, the fused causal attention kernel).
    """

    def __init__(self, rows: list[list[int]], pad: int, device: torch.device) -> None:
        self.lengths = np.array([len(r) for r in rows])
        ids = torch.full((len(rows), int(self.lengths.max())), pad, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        padding = torch.arange(ids.shape[1]) >= torch.from_numpy(self.lengths)[:, None]
        self.ids = ids.to(device)
        self.labels = ids.masked_fill(padding, -100).to(device)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, pick: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids and labels (-100 on padding) of rows `pick`."""
        width = int(self.lengths[pick].max())
        index = torch.from_numpy(pick).to(self.ids.device, non_blocking=True)
        return self.ids[index, :width], self.labels[index, :width]


def _with_lora(model: PreTrainedModel, config: FinetuneConfig) -> PreTrainedModel:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def train_steps(
    model: PreTrainedModel, rows: list[list[int]], pad: int, config: FinetuneConfig, progress: bool = True
) -> list[float]:
    """Run `config.steps` AdamW steps on random batches of `rows`; the loss of each step.

    Each step averages the gradients of `config.accumulate` micro-batches of `config.batch_size`
    texts, so a large effective batch (the reference's 24 × 4 = 96) fits in a small memory.

    On a GPU the host never waits for a step: losses stay on the device and are read (and checked
    for divergence) only every `report_every` steps; AdamW is the fused kernel there.
    """
    device = next(model.parameters()).device
    rng = np.random.default_rng(config.seed)
    data = TokenRows(rows, pad, device)
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay, **fused)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    report_every = max(1, config.steps // 50)
    pending: list[torch.Tensor] = []
    losses: list[float] = []
    model.train()
    with progress_bar(progress) as bar:
        task = bar.add_task("fine-tuning", total=config.steps, status="")
        for step in range(1, config.steps + 1):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.zeros((), device=device)
            for _ in range(config.accumulate):
                pick = rng.choice(len(data), size=config.batch_size, replace=config.batch_size > len(data))
                ids, labels = data.batch(pick)
                with autocast:
                    part = model(input_ids=ids, labels=labels, use_cache=False).loss / config.accumulate
                part.backward()
                loss = loss + part.detach()
            optimizer.step()
            pending.append(loss.detach())
            if step % report_every == 0 or step == config.steps:
                read = torch.stack(pending).float().tolist()
                bad = next((i for i, value in enumerate(read) if not np.isfinite(value)), None)
                if bad is not None:
                    raise MasError(f"fine-tuning diverged (loss {read[bad]}) at step {len(losses) + bad}; lower the lr")
                losses += read
                pending.clear()
                bar.update(task, status=f"loss {read[-1]:.3f}")
            bar.advance(task)
    model.eval()
    return losses


def finetune(
    base: str | PathLike | PreTrainedModel,
    texts: list[str],
    out: str | PathLike,
    config: FinetuneConfig | None = None,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    gguf_file: str | None = None,
    local_files_only: bool = True,
    progress: bool = True,
) -> Path:
    """Fine-tune `base` on `texts` and save the result to the folder `out`; returns `out`.

    `base` is an id, folder or `.gguf` file (its tokenizer is loaded from there) or a built model
    (pass `tokenizer` then; the model is trained in place).
    """
    config = config or FinetuneConfig()
    config.check()
    if not texts:
        raise MasError("no texts to fine-tune on")
    torch.manual_seed(config.seed)
    if tokenizer is None:
        if isinstance(base, PreTrainedModel):
            raise MasError("pass the tokenizer along with an already built model")
        tokenizer = load_tokenizer(base, gguf_file, local_files_only)
    rows = _encode(tokenizer, texts, config.length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise MasError("the tokenizer has neither a padding nor an end-of-text token")
    device = resolve_device(config.device) if config.device else model_device(0)
    if isinstance(base, PreTrainedModel):
        check_config(base.config.get_text_config(), type(base).__name__, length=config.length)
        model = base.to(device)
    else:
        check_config(load_config(base, gguf_file, local_files_only), str(base), length=config.length)
        model = load_causal_lm(base, gguf_file, torch.float32, local_files_only).to(device)
    if config.lora_rank:
        model = _with_lora(model.requires_grad_(False), config)
    else:
        model.requires_grad_(True)
    losses = train_steps(model, rows, pad, config, progress)
    if config.lora_rank:
        model = model.merge_and_unload()
    model = model.requires_grad_(False).to(resolve_dtype(config.save_dtype, device))
    out = Path(out)
    with staged_folder(out, "finetune", finetune_settings(base, texts, config)) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        summary = {"config": asdict(config), "texts": len(rows), "first_loss": losses[0], "last_loss": losses[-1]}
        write_json(tmp / "finetune.json", summary)
    return out


@torch.no_grad()
def heldout_loss(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], length: int, batch_size: int = 16
) -> float:
    """Mean next-token cross-entropy of `model` on `texts` cut to `length` tokens, every scored token weighed
    alike: how well a fine-tune (or its base) predicts text it never trained on."""
    rows = _encode(tokenizer, texts, length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    data = TokenRows(rows, 0 if pad is None else pad, device)
    total, count = 0.0, 0
    model.eval()
    for start in range(0, len(data), batch_size):
        ids, labels = data.batch(np.arange(start, min(start + batch_size, len(data))))
        logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
        target = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                 ignore_index=-100, reduction="sum")
        total += float(loss)
        count += int((target != -100).sum())
    return total / count
