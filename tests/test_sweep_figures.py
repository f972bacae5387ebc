"""Figures 2d and 3a end to end on tiny GRUs: PNG, CSV and JSON written, a rerun resumes from the table;
figure 3a's choice of ε."""

import csv
import shutil
from pathlib import Path

import pytest

import mas.experiments.sweep as sweep
from mas.errors import MasError
from mas.experiments.figure_2d import Figure2d, run_figure_2d
from mas.experiments.figure_3a import Figure3a, bars, choose_epsilon, run_figure_3a
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


def test_figure_3a_chooses_epsilon_and_draws_intervals(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Figure3a(models_dir=models_dir, k=4, rank=48, latent_sequences=50, seeds=[0], epsilon_grid=[0.1, 10.0],
                      **BUDGET)
    out = tmp_path / "fig3a"
    summary = run_figure_3a(config, out, tmp_path / "fig3a.rows.jsonl", show_progress=False)
    methods = ["mas", "clmas", "latent_stitch", "behavioural_stitch"]
    assert [(b["method"], b["side"]) for b in summary["bars"]] == [(m, s) for m in methods for s in ("access", "no_access")]
    assert all(0 <= b["low"] <= b["mean"] <= b["high"] <= 1 and b["n"] == 1 for b in summary["bars"])
    assert [g["epsilon"] for g in summary["epsilon"]["grid"]] == [0.1, 10.0]
    assert summary["epsilon"]["chosen"] == max(summary["epsilon"]["grid"], key=lambda g: g["mean"])["epsilon"]
    saved = read_json(out / "figure_3a.json")
    assert saved["bars"] == summary["bars"] and saved["epsilon"] == summary["epsilon"]
    assert {p.name for p in out.iterdir()} == {"figure_3a.png", "figure_3a.csv", "figure_3a.json", "figure_3a_epsilon.csv",
                                               "mas-run.json"}
    with open(out / "figure_3a_epsilon.csv") as handle:
        grid = list(csv.DictReader(handle))
    assert [(float(g["epsilon"]), g["chosen"]) for g in grid] == [
        (g["epsilon"], str(g["epsilon"] == summary["epsilon"]["chosen"])) for g in summary["epsilon"]["grid"]]
    with open(out / "figure_3a.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(float(r["cl_weight"]) for r in rows if r["method"] == "clmas") == [0.1, 10.0]

    monkeypatch.setattr(sweep, "run_job", lambda context, job: pytest.fail(f"{job} was run again"))
    explicit = Figure3a(**{**config.model_dump(), "cl_weight": 10.0})  # one ε given: no grid, every row from the table
    again = run_figure_3a(explicit, tmp_path / "fig3a-explicit", tmp_path / "fig3a.rows.jsonl", show_progress=False)
    assert [g["epsilon"] for g in again["epsilon"]["grid"]] == [10.0] and again["epsilon"]["chosen"] == 10.0


def _clmas_row(epsilon: float, seed: int, validation_access: float, validation_no_access: float, test: float) -> dict:
    return {"method": "clmas", "cl_weight": epsilon, "seed": seed, "access": test, "no_access": test,
            "validation_iia": {"1->0": validation_access, "0->1": validation_no_access}}


def test_epsilon_is_chosen_on_access_validation_alone() -> None:
    """ε = 3 has the best validation Access IIA; ε = 1 has better test scores and No Access validation: 3 is chosen."""
    rows = [_clmas_row(1.0, seed, 0.6 + 0.01 * seed, 0.9, 0.95) for seed in range(3)]
    rows += [_clmas_row(3.0, seed, 0.7 + 0.01 * seed, 0.5, 0.4) for seed in range(3)]
    choice = choose_epsilon(rows, inaccessible=1)
    assert choice["chosen"] == 3.0
    assert [(g["epsilon"], g["n"]) for g in choice["grid"]] == [(1.0, 3), (3.0, 3)]
    assert choice["grid"][1]["mean"] == pytest.approx(0.71)
    assert choose_epsilon(rows, inaccessible=0)["chosen"] == 1.0  # model 0 inaccessible: Access is 0->1
    chosen = [b for b in bars(rows, 3.0) if b["method"] == "clmas"]
    assert [b["mean"] for b in chosen] == pytest.approx([0.4, 0.4])


def test_figure_3a_refuses_a_bad_epsilon_grid() -> None:
    for grid in ([1.0, 1.0], [-1.0]):
        with pytest.raises(MasError):
            Figure3a(epsilon_grid=grid)


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
