"""Figures 2d and 3a end to end on tiny GRUs: PNG, CSV and JSON written, a rerun resumes from the table."""

import csv
import shutil
from pathlib import Path

import pytest

import mas.experiments.sweep as sweep
from mas.experiments.figure_2d import Figure2d, run_figure_2d
from mas.experiments.figure_3a import Figure3a, run_figure_3a
from mas.io import read_json

BUDGET = dict(steps=2, batch_size=8, train_pairs=64, test_pairs=16)


@pytest.fixture
def models_dir(tiny_gru_folders: list[Path], tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    for seed, gru in enumerate(tiny_gru_folders):
        shutil.copytree(gru, folder / f"multi_object-gru-s{seed}")
    return folder


def test_figure_2d_points_files_and_resume(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Figure2d(models_dir=models_dir, ks=[2], ranks=[2, 48], **BUDGET)
    out, table = tmp_path / "fig2d", tmp_path / "fig2d.rows.jsonl"
    summary = run_figure_2d(config, out, table, show_progress=False)
    assert [(p["method"], p["size"], p["scored"]) for p in summary["points"]] == [
        ("das", 2, "self"), ("mas", 2, "cross"), ("stitch", 2, "cross"), ("stitch", 48, "cross")]
    assert all(0 <= p["low"] <= p["iia"] <= p["high"] <= 1 for p in summary["points"])
    assert {p.name for p in out.iterdir()} == {"figure_2d.png", "figure_2d.csv", "figure_2d.json", "mas-run.json"}
    with open(out / "figure_2d.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and rows[0]["iia_0->0"] != "" and rows[1]["iia_0->1"] != ""
    assert read_json(out / "figure_2d.json")["points"] == summary["points"]

    shutil.rmtree(out)
    monkeypatch.setattr(sweep, "run_job", lambda context, job: pytest.fail(f"{job} was run again"))
    again = run_figure_2d(config, out, table, show_progress=False)  # every row comes from the table
    assert again["points"] == summary["points"]


def test_figure_3a_bars_for_both_sides(models_dir: Path, tmp_path: Path) -> None:
    config = Figure3a(models_dir=models_dir, k=4, rank=48, latent_sequences=50, **BUDGET)
    summary = run_figure_3a(config, tmp_path / "fig3a", tmp_path / "fig3a.rows.jsonl", show_progress=False)
    methods = ["mas", "clmas", "latent_stitch", "behavioural_stitch"]
    assert [(b["method"], b["side"]) for b in summary["bars"]] == [(m, s) for m in methods for s in ("access", "no_access")]
    assert all(0 <= b["iia"] <= 1 for b in summary["bars"])
    assert (tmp_path / "fig3a" / "figure_3a.png").stat().st_size > 0
