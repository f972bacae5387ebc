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
    config = Figure2d(models_dir=models_dir, ks=[2], ranks=[2, 48], seeds=[0, 1], eval_every=1, patience=1, **BUDGET)
    out, table = tmp_path / "fig2d", tmp_path / "fig2d.rows.jsonl"
    summary = run_figure_2d(config, out, table, show_progress=False)
    assert [(p["method"], p["size"], p["scored"]) for p in summary["points"]] == [
        ("das", 2, "self"), ("mas", 2, "cross"), ("stitch", 2, "cross"), ("stitch", 48, "cross")]
    assert all(0 <= p["low"] <= p["mean"] <= p["high"] <= 1 and p["n"] == 2 for p in summary["points"])
    assert all(len(p["steps"]) == 2 and all(1 <= s <= 2 for s in p["steps"]) for p in summary["points"])
    assert [g["k"] for g in summary["das_minus_mas"]] == [2] and summary["stitch_plateau_rank"] in (2, 48)
    assert {p.name for p in out.iterdir()} == {"figure_2d.png", "figure_2d.csv", "figure_2d.json", "mas-run.json"}
    with open(out / "figure_2d.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and rows[0]["iia_0->0"] != "" and rows[1]["iia_0->1"] != ""
    assert sorted(r["seed"] for r in rows) == ["0"] * 4 + ["1"] * 4
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


def test_figure_2d_summaries_from_rows() -> None:
    """Points, DAS − MAS gaps and the stitch plateau, worked out by hand on made-up rows."""
    from mas.experiments.figure_2d import mas_gaps, points, stitch_plateau

    rows = [{"method": "das", "size": 4, "seed": s, "self": 0.9, "steps": 50} for s in (0, 1)]
    rows += [{"method": "mas", "size": 4, "seed": s, "cross": c, "steps": 75} for s, c in ((0, 0.8), (1, 0.6))]
    rows += [{"method": "stitch", "size": r, "seed": 0, "cross": c, "steps": 25} for r, c in ((1, 0.2), (4, 0.69), (16, 0.7))]
    found = points(rows)
    assert [(p["method"], p["size"], p["mean"], p["n"], p["mean_steps"]) for p in found][:2] == [
        ("das", 4, 0.9, 2, 50), ("mas", 4, pytest.approx(0.7), 2, 75)]
    mas = found[1]
    assert mas["low"] == pytest.approx(0.6) and mas["high"] == pytest.approx(0.8)  # resamples of two values
    (gap,) = mas_gaps(rows)
    assert gap["k"] == 4 and gap["mean"] == pytest.approx(0.2) and gap["n"] == 2
    assert stitch_plateau(found) == 16  # one seed: rank 4's interval is its value 0.69 < 0.7
