"""A small sweep that Ray tests run and compare with the same sweep run in this process."""

import os
from pathlib import Path

import pytest

from mas.experiments.sweep import SweepSpec

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytest.importorskip("ray")


def small_spec(folders: list[Path]) -> SweepSpec:
    """Six jobs (three methods, two sizes) long enough to learn something and to be killed mid-way."""
    return SweepSpec(models=folders, methods=["das", "mas", "stitch"], ks=[2, 8], ranks=[2, 48], steps=20,
                     lr=1e-2, eval_every=10, batch_size=32, train_pairs=128, validation_pairs=32, test_pairs=64)


def comparable(rows: list[dict]) -> list[dict]:
    """Rows without their timings, which are the only thing allowed to differ between runners."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
