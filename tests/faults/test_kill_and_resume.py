"""Fault injection: `mas` killed with SIGKILL at seeded random points, then run again.

For `mas train`, `mas align`, `mas sweep` and `mas figure 2d` each: an uninterrupted run gives the
reference; then, for each of five kill points drawn from a seeded generator over that run's wall
time, a fresh run is killed there and the same command is run again. Checked: the rerun resumes
from what was saved (no finished work redone), no row is lost or doubled, and the final results
equal the reference. A full disk (RLIMIT_FSIZE) must give one line and exit status 2 with earlier
results intact. Run with `make faults` (a few minutes on two cores).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

KILL_POINTS = 5
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def mas(*args: object, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "mas", *map(str, args), "--threads", "1"], capture_output=True,
                          text=True, env=ENV, preexec_fn=limit, timeout=600)


def timed(*args: object) -> float:
    start = time.perf_counter()
    result = mas(*args)
    assert result.returncode == 0, result.stderr
    return time.perf_counter() - start


def killed_at(delay: float, *args: object) -> None:
    """Start the command and SIGKILL it (and anything it started) after `delay` seconds."""
    proc = subprocess.Popen([sys.executable, "-m", "mas", *map(str, args), "--threads", "1"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def kill_points(seed: int, duration: float) -> list[float]:
    """Seeded points spread over the run: after start-up (a third of a second) and before its end."""
    return sorted(np.random.default_rng(seed).uniform(0.3, 0.95 * duration, KILL_POINTS).tolist())


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


def rows_of(table: Path) -> list[str]:
    return [line for line in table.read_text().splitlines() if line.strip()] if table.exists() else []


def comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "seconds"}


TRAIN = ["train", "--task", "multi_object", "--arch", "gru", "--width", "16", "--max-steps", "60", "--eval-every", "10"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("models")
    for seed in (0, 1):
        assert mas(*TRAIN, "--seed", seed, "--out", root / f"m{seed}").returncode == 0
    return [root / "m0", root / "m1"]


def test_train_resumes_from_its_saved_state(models: list[Path], tmp_path: Path) -> None:
    reference = models[0]
    duration = timed(*TRAIN, "--seed", 0, "--out", tmp_path / "timing")
    resumed = 0
    for i, delay in enumerate(kill_points(1, duration)):
        out = tmp_path / f"k{i}"
        killed_at(delay, *TRAIN, "--seed", 0, "--out", out)
        state = out / "train_state.json"
        saved_step = json.loads(state.read_text())["step"] if state.is_file() else 0
        finished = (out / "config.json").is_file()
        rerun = mas(*TRAIN, "--seed", 0, "--out", out)
        assert rerun.returncode == 0, rerun.stderr
        if saved_step and not finished:
            assert f"from step {saved_step}" in rerun.stderr, rerun.stderr  # nothing saved is redone
            resumed += 1
        assert (out / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
        assert json.loads((out / "config.json").read_text()) == json.loads((reference / "config.json").read_text())
        assert not (out / "train_state.json").exists() and no_temporaries(tmp_path)
    assert resumed >= 1, "no kill point fell between two saves; the resume path was not exercised"


ALIGN = ["--steps", "30", "--pairs", "256", "--test-pairs", "64", "--k", "4"]


def test_align_is_all_or_nothing(models: list[Path], tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    duration = timed("align", *models, *ALIGN, "--out", reference)
    expected = json.loads((reference / "results.json").read_text())["iia"]
    for i, delay in enumerate(kill_points(2, duration)):
        out = tmp_path / f"k{i}"
        killed_at(delay, "align", *models, *ALIGN, "--out", out)
        assert not out.exists() or (out / "results.json").is_file()  # never half a run folder
        rerun = mas("align", *models, *ALIGN, "--out", out)
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads((out / "results.json").read_text())["iia"] == expected
        assert no_temporaries(tmp_path)


SWEEP = ["--methods", "das,mas", "--ks", "2,4", "--steps", "10"]


def test_sweep_keeps_finished_rows_and_writes_each_once(models: list[Path], tmp_path: Path) -> None:
    reference = tmp_path / "reference.jsonl"
    duration = timed("sweep", *models, *SWEEP, "--table", reference)
    expected = sorted((comparable(json.loads(r)) for r in rows_of(reference)), key=lambda r: r["key"])
    assert len(expected) == 4
    for i, delay in enumerate(kill_points(3, duration)):
        table = tmp_path / f"k{i}.jsonl"
        killed_at(delay, "sweep", *models, *SWEEP, "--table", table)
        before = rows_of(table)
        assert mas("sweep", *models, *SWEEP, "--table", table).returncode == 0
        after = rows_of(table)
        assert after[: len(before)] == before  # finished rows kept byte for byte: not recomputed
        keys = [json.loads(r)["key"] for r in after]
        assert len(keys) == len(set(keys)) == 4
        assert sorted((comparable(json.loads(r)) for r in after), key=lambda r: r["key"]) == expected


FIGURE = ["figure", "2d", "--protocol", "quick", "--ks", "2", "--ranks", "1", "--steps", "10", "--seeds", "0"]


def test_figure_resumes_from_its_rows(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    for seed in (0, 1):  # the figure's own model names and architecture, on a short training budget
        trained = mas("train", "--task", "multi_object", "--arch", "gru", "--seed", seed, "--max-steps", "20",
                      "--out", models_dir / f"multi_object-gru-s{seed}")
        assert trained.returncode == 0, trained.stderr
    args = [*FIGURE, "--models-dir", models_dir]
    duration = timed(*args, "--out", tmp_path / "reference")
    expected = sorted((comparable(json.loads(r)) for r in rows_of(tmp_path / "reference.rows.jsonl")),
                      key=lambda r: r["key"])
    for i, delay in enumerate(kill_points(4, duration)):
        out = tmp_path / f"k{i}"
        killed_at(delay, *args, "--out", out)
        before = rows_of(tmp_path / f"k{i}.rows.jsonl")
        assert mas(*args, "--out", out).returncode == 0
        after = rows_of(tmp_path / f"k{i}.rows.jsonl")
        assert after[: len(before)] == before
        assert sorted((comparable(json.loads(r)) for r in after), key=lambda r: r["key"]) == expected
        assert (out / "figure_2d.png").is_file() and no_temporaries(tmp_path)


def test_full_disk_is_one_line_and_keeps_earlier_results(models: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert mas("align", *models, *ALIGN, "--out", out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    full = mas("align", *models, *ALIGN, "--out", out, limit_bytes=20_000)
    assert full.returncode == 2
    errors = [line for line in full.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "cannot write" in errors[0] and "Traceback" not in full.stderr, full.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert no_temporaries(tmp_path)
