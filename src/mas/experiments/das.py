"""DAS within one model at one site: the building block of the studies that choose a variable or a site.

A study compares settings (a candidate variable, a site, a pair scheme, a k) by the validation IIA
of the best step, and reports the held-out test IIA beside it, so the choice never sees the test pairs.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from mas.adapters import ModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, direction_key
from mas.evaluate import evaluate_iia
from mas.tasks import CausalModel
from mas.tasks.pairs import Mode, PairSet, build_pairs

DAS = (0, 0)


class DasBudget(BaseModel):
    """How long DAS may train per setting, and how many pairs train, select and test it."""

    steps: int = Field(300, ge=1)
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    train_pairs: int = Field(2048, ge=1)
    validation_pairs: int = Field(256, ge=1)
    test_pairs: int = Field(500, ge=1)
    seed: int = 0

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.train_pairs, self.validation_pairs, self.test_pairs

    def align(self, k: int) -> AlignConfig:
        return AlignConfig(k=k, steps=self.steps, lr=self.lr, batch_size=self.batch_size, seed=self.seed)


def study_pairs(
    task: CausalModel, variable: str, sizes: tuple[int, int, int], seed: int, mode: Mode = "single"
) -> tuple[PairSet, PairSet, PairSet]:
    """Training, validation and test pairs for one variable, from independent seeds."""
    return tuple(  # type: ignore[return-value]
        build_pairs(task, task, n, {variable: variable}, mode, seed=seed * 3 + i) for i, n in enumerate(sizes)
    )


def das_score(
    adapter: ModelAdapter, site: str, align: AlignConfig, pairs: tuple[PairSet, PairSet, PairSet],
    show_progress: bool = True, free_running: bool = True,
) -> dict:
    """Best-step validation IIA and held-out test IIA (trial and token) of DAS at `site`; tested
    teacher-forced without `free_running` (language models, which never feed themselves)."""
    began = time.perf_counter()
    train, validation, test = pairs
    trainer = AlignmentTrainer([adapter], [site], align)
    fit = trainer.fit({DAS: train}, {DAS: validation}, show_progress=show_progress, select=[DAS])
    score = evaluate_iia(trainer, fit.rotations, {DAS: test}, free_running)[DAS]
    best = max(r["val_trial"][direction_key(DAS)] for r in fit.history)
    return {"validation_iia": best, "test_iia": score.trial, "test_token_iia": score.token, "steps": fit.steps,
            "seconds": round(time.perf_counter() - began, 1)}
