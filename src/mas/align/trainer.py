"""One trainer for DAS, MAS and their relatives: n models, n rotations, any set of directions.

A direction (s, t) moves the first k aligned dims of model s's state into model t's and asks t to
carry on as the counterfactual says. n = 1 with direction (0, 0) is DAS; n models with all n²
directions is MAS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch.nn.utils import parametrize

from mas.align.interchange import DirectionPart, correct_predictions, read_source_states, stacked_batch
from mas.align.rotation import Rotations
from mas.errors import MasError
from mas.models.adapter import ModelAdapter
from mas.progress import progress_bar
from mas.tasks.pairs import IGNORE, PairSet

Direction = tuple[int, int]


def all_directions(n: int) -> list[Direction]:
    return [(s, t) for s in range(n) for t in range(n)]


def direction_key(direction: Direction) -> str:
    return f"{direction[0]}->{direction[1]}"


class AlignConfig(BaseModel):
    """Optimisation settings; the defaults are the reference defaults for numeric-task hidden states."""

    k: int = Field(32, ge=1, description="size of the swapped aligned subspace")
    steps: int = Field(2000, ge=1, description="maximum optimisation steps")
    lr: float = Field(3e-3, gt=0, description="peak learning rate, cosine-decayed over `steps`")
    batch_size: int = Field(128, ge=1, description="pairs per direction per step")
    seed: int = 0
    eval_every: int = Field(50, ge=1)
    stop_accuracy: float = Field(0.995, description="stop once every direction's validation trial accuracy reaches this")
    keep_target: bool = Field(True, description="False drops the target's own state: orthogonal stitching")


@dataclass
class FitResult:
    rotations: Rotations
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)


def check_sites(adapters: Sequence[ModelAdapter], sites: Sequence[str], k: int) -> list[int]:
    """Widths of every model's site; refuses unknown sites and a k wider than any of them."""
    if len(sites) != len(adapters):
        raise MasError(f"{len(adapters)} models but {len(sites)} sites")
    widths = [a.width(s) for a, s in zip(adapters, sites)]
    if k > min(widths):
        raise MasError(f"k = {k} is larger than the narrowest site width ({min(widths)})")
    return widths


class AlignmentTrainer:
    """Learns one rotation per model so that subspace swaps make each target act as the source says.

    Source states are read once per pair set and reused by every step; each step runs every
    target once, on all of its directions stacked along the batch.
    """

    def __init__(self, adapters: Sequence[ModelAdapter], sites: Sequence[str], config: AlignConfig) -> None:
        self.adapters = list(adapters)
        self.sites = list(sites)
        self.config = config
        self.widths = check_sites(self.adapters, self.sites, config.k)
        self._cache: dict[tuple[int, int], torch.Tensor] = {}

    def source_states(self, source: int, pairs: PairSet) -> torch.Tensor:
        key = (source, id(pairs))
        if key not in self._cache:
            self._cache[key] = read_source_states(self.adapters[source], self.sites[source], pairs)
        return self._cache[key]

    def forward(
        self,
        rotations: Sequence[torch.Tensor],
        target: int,
        batches: Mapping[Direction, PairSet],
        indices: Mapping[Direction, torch.Tensor | slice],
        feed: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[Direction]]:
        """Logits and labels of `target` on every given direction into it, in one pass."""
        k = self.config.k
        dirs = list(batches)
        parts = [
            DirectionPart(
                pairs=batches[d].subset(indices[d]),
                source_states=self.source_states(d[0], batches[d])[indices[d]],
                source_basis=rotations[d[0]][:, :k],
            )
            for d in dirs
        ]
        tokens, labels, intervention = stacked_batch(
            self.sites[target], parts, rotations[target][:, :k], self.config.keep_target
        )
        adapter = self.adapters[target]
        scored = (labels != IGNORE).to(adapter.device)
        logits = adapter.run(tokens.to(adapter.device), intervention, scored if feed else None, scored)
        return logits, labels, dirs

    def fit(
        self,
        train: Mapping[Direction, PairSet],
        validation: Mapping[Direction, PairSet] | None = None,
        rotations: Rotations | None = None,
        show_progress: bool = True,
    ) -> FitResult:
        """Train rotations on `train`'s directions; stop early once `validation` is solved."""
        cfg = self.config
        for direction, pairs in train.items():
            if len(pairs) == 0:
                raise MasError(f"direction {direction_key(direction)} has no training pairs")
        rotations = rotations if rotations is not None else Rotations(self.widths, seed=cfg.seed)
        optimizer = torch.optim.Adam(rotations.parameters(), lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
        generator = torch.Generator().manual_seed(cfg.seed + 1)
        targets = sorted({t for _, t in train})
        history: list[dict] = []
        start = time.perf_counter()
        step = 0
        with progress_bar(show_progress) as bar:
            job = bar.add_task("aligning", total=cfg.steps, status="")
            for step in range(1, cfg.steps + 1):
                optimizer.zero_grad()
                total = torch.zeros(())
                with parametrize.cached():
                    qs = rotations.matrices()
                    for target in targets:
                        into = {d: p for d, p in train.items() if d[1] == target}
                        idx = {d: torch.randint(len(p), (cfg.batch_size,), generator=generator) for d, p in into.items()}
                        logits, labels, dirs = self.forward(qs, target, into, idx)
                        total = total + _per_direction_loss(logits, labels, len(dirs)).sum()
                    total.backward()
                total = total.detach()
                optimizer.step()
                schedule.step()
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    record = {"step": step, "loss": total.item()}
                    if validation is not None:
                        accuracy = self.validation_accuracy(rotations, validation)
                        record["val_trial"] = {direction_key(d): a for d, a in accuracy.items()}
                    history.append(record)
                    bar.update(job, status=f"loss {record['loss']:.3f}")
                    if validation is not None and min(accuracy.values()) >= cfg.stop_accuracy:
                        bar.update(job, completed=step)
                        break
                bar.advance(job)
        return FitResult(rotations, step, time.perf_counter() - start, history)

    @torch.no_grad()
    def validation_accuracy(self, rotations: Rotations, pairs: Mapping[Direction, PairSet]) -> dict[Direction, float]:
        """Teacher-forced trial accuracy, which equals free-running trial accuracy (the first wrong
        token is wrong in both), at a fraction of the cost for non-recurrent targets."""
        with parametrize.cached():
            qs = rotations.matrices()
            out = {}
            for d, p in pairs.items():
                logits, labels, _ = self.forward(qs, d[1], {d: p}, {d: slice(None)})
                out[d] = float(correct_predictions(logits, labels)[0].float().mean())
        return out


def _per_direction_loss(logits: torch.Tensor, labels: torch.Tensor, n_directions: int) -> torch.Tensor:
    """Mean cross-entropy over labelled positions, one value per direction block of the batch."""
    labels = labels.to(logits.device)
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="none")
    losses = losses.view(n_directions, -1)
    counts = (labels != IGNORE).view(n_directions, -1).sum(1).clamp(min=1)
    return losses.sum(1) / counts
