"""The device check script, run in its CPU smoke mode: the code paths a GPU machine will run, kept working
where no GPU is lent (it measures nothing here)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_part_and_figure_2c() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--cpu-smoke", "--skip", "tests"],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["smoke"] and report["device"] == "cpu"
    for part in ("finetune", "das"):
        assert all(math.isfinite(v) and v > 0 for v in report[part].values()), report[part]
    figure = report["figure_2c"]
    assert set(figure["heldout_loss"]) == {"base", "toxic-0", "toxic-1", "nontoxic-0", "nontoxic-1"}
    assert {"toxic<->toxic", "toxic<->nontoxic", "nontoxic<->nontoxic", "self"} <= set(figure["groups"])
    assert set(figure["control_groups"]) == set(figure["groups"])
