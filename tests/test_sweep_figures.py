"""Figures 2d and 3a end to end on tiny GRUs: PNG, CSV and JSON written, a rerun resumes from the table;
figure 3a's choice of ε and k, and its grid growing past an edge; the protocols' presets."""

import csv
import shutil
from pathlib import Path

import pytest

import mas.experiments.sweep as sweep
from mas.errors import MasError
from mas.experiments.figure_2d import Figure2d, run_figure_2d
from mas.experiments.figure_3a import Figure3a, bars, choose, extend_grid, run_figure_3a
from mas.io import read_json

BUDGET = dict(steps=2, batch_size=8, train_pairs=64, validation_pairs=16, test_pairs=16, model_seeds=[0, 1])


@pytest.fixture
def models_dir(tiny_gru_folders: list[Path], tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    for seed, gru in enumerate(tiny_gru_folders):
        shutil.copytree(gru, folder / f"multi_object-gru-s{seed}")
    return folder


def test_figure_2d_points_files_and_resume(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Figure2d(models_dir=models_dir, ks=[2], ranks=[2, 48], seeds=[0, 1], eval_every=1, patience=1,
                      methods=["das", "mas", "stitch"], **BUDGET)
    out, table = tmp_path / "fig2d", tmp_path / "fig2d.rows.jsonl"
    summary = run_figure_2d(config, out, table, show_progress=False)
    assert [(p["method"], p["size"], p["scored"]) for p in summary["points"]] == [
        ("das", 2, "self"), ("mas", 2, "cross"), ("stitch", 2, "cross"), ("stitch", 48, "cross")]
    assert all(0 <= p["low"] <= p["mean"] <= p["high"] <= 1 and p["n"] == 2 for p in summary["points"])
    assert all(len(p["steps"]) == 2 and all(1 <= s <= 2 for s in p["steps"]) for p in summary["points"])
    assert all(0 <= p["at_ceiling"] <= 2 for p in summary["points"])
    assert [g["k"] for g in summary["das_minus_mas"]] == [2] and summary["stitch_plateau_rank"] in (2, 48)
    assert {p.name for p in out.iterdir()} == {"figure_2d.png", "figure_2d.csv", "figure_2d.json", "mas-run.json"}
    with open(out / "figure_2d.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and rows[0]["iia_0->0"] != "" and rows[1]["iia_0->1"] != ""
    assert sorted(r["seed"] for r in rows) == ["0"] * 4 + ["1"] * 4
    assert all(r["stop_reason"] in ("solved", "plateau", "ceiling") for r in rows)
    saved = read_json(out / "figure_2d.json")
    assert saved["points"] == summary["points"]
    assert {row["setting"] for row in saved["protocol"]} >= {"lr", "steps", "variables", "ks", "ranks"}

    shutil.rmtree(out)
    monkeypatch.setattr(sweep, "run_job", lambda context, job: pytest.fail(f"{job} was run again"))
    again = run_figure_2d(config, out, table, show_progress=False)  # every row comes from the table
    assert again["points"] == summary["points"]


def test_figure_3a_chooses_epsilon_and_draws_intervals(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Figure3a(models_dir=models_dir, ks=[4], rank=48, latent_sequences=50, seeds=[0], epsilon_grid=[0.1, 10.0],
                      max_extensions=1, **BUDGET)
    out, table = tmp_path / "fig3a", tmp_path / "fig3a.rows.jsonl"
    summary = run_figure_3a(config, out, table, show_progress=False)
    methods = ["mas", "clmas", "clmas_access", "latent_stitch", "behavioural_stitch", "affine_latent_stitch",
               "affine_behavioural_stitch"]
    assert [(b["method"], b["side"]) for b in summary["bars"]] == [(m, s) for m in methods for s in ("access", "no_access")]
    assert all(0 <= b["low"] <= b["mean"] <= b["high"] <= 1 and b["n"] == 1 for b in summary["bars"])
    chosen = summary["choices"]["clmas"]
    # The grid {0.1, 10} has only edges: it grew once past whichever edge was chosen first.
    assert summary["grid_extensions"] == 1 and len(summary["epsilon_grid"]) == 3
    assert [g["epsilon"] for g in chosen["grid"]] == summary["epsilon_grid"]
    assert (chosen["epsilon"], chosen["k"]) == max(((g["epsilon"], g["k"]) for g in chosen["grid"]),
                                                  key=lambda e: next(g["mean"] for g in chosen["grid"] if g["epsilon"] == e[0]))
    saved = read_json(out / "figure_3a.json")
    assert saved["bars"] == summary["bars"] and saved["choices"] == summary["choices"]
    assert {p.name for p in out.iterdir()} == {"figure_3a.png", "figure_3a.csv", "figure_3a.json", "figure_3a_choices.csv",
                                               "mas-run.json"}
    with open(out / "figure_3a_choices.csv") as handle:
        grid = [g for g in csv.DictReader(handle) if g["rule"] == "clmas"]
    assert [(float(g["epsilon"]), g["chosen"]) for g in grid] == [
        (g["epsilon"], str(g["epsilon"] == chosen["epsilon"])) for g in chosen["grid"]]
    with open(out / "figure_3a.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(float(r["cl_weight"]) for r in rows if r["method"] == "clmas") == summary["epsilon_grid"]

    monkeypatch.setattr(sweep, "run_job", lambda context, job: pytest.fail(f"{job} was run again"))
    explicit = Figure3a(**{**config.model_dump(), "cl_weight": 10.0})  # one ε given: no grid, every row from the table
    again = run_figure_3a(explicit, tmp_path / "fig3a-explicit", table, show_progress=False)
    assert [g["epsilon"] for g in again["choices"]["clmas"]["grid"]] == [10.0] and again["grid_extensions"] == 0


def _clmas_row(epsilon: float, seed: int, validation_access: float, validation_no_access: float, test: float,
               k: int = 64) -> dict:
    return {"method": "clmas", "cl_weight": epsilon, "size": k, "seed": seed, "pair": f"p{seed}", "access": test,
            "no_access": test, "validation_iia": {"1->0": validation_access, "0->1": validation_no_access}}


def test_settings_are_chosen_on_no_access_validation_and_access_is_the_labelled_extra() -> None:
    """ε = 1 has the best No Access validation IIA; ε = 3 the best Access one and worse test scores."""
    rows = [_clmas_row(1.0, seed, 0.6 + 0.01 * seed, 0.9, 0.95) for seed in range(3)]
    rows += [_clmas_row(3.0, seed, 0.7 + 0.01 * seed, 0.5, 0.4) for seed in range(3)]
    rows += [_clmas_row(3.0, seed, 0.5, 0.95, 0.3, k=128) for seed in range(3)]
    no_access = choose(rows, "clmas", "no_access", inaccessible=1)
    assert (no_access["epsilon"], no_access["k"]) == (3.0, 128)
    assert [(g["epsilon"], g["k"], g["n"]) for g in no_access["grid"]] == [(1.0, 64, 3), (3.0, 64, 3), (3.0, 128, 3)]
    access = choose(rows, "clmas", "access", inaccessible=1)
    assert (access["epsilon"], access["k"]) == (3.0, 64) and access["grid"][1]["mean"] == pytest.approx(0.71)
    assert choose(rows, "clmas", "access", inaccessible=0)["epsilon"] == 3.0  # model 0 inaccessible: Access is 0->1
    chosen = [b for b in bars(rows, {"clmas": no_access, "clmas_access": access}) if b["method"].startswith("clmas")]
    assert [b["method"] for b in chosen] == ["clmas", "clmas", "clmas_access", "clmas_access"]
    assert [b["mean"] for b in chosen] == pytest.approx([0.3, 0.3, 0.4, 0.4])


def test_the_epsilon_grid_grows_past_the_edge_it_was_chosen_on() -> None:
    grid = [1.0, 3.0, 10.0, 30.0]
    assert extend_grid(grid, 30.0) == 90.0
    assert extend_grid(grid, 1.0) == pytest.approx(1 / 3)
    assert extend_grid(grid, 10.0) is None and extend_grid(grid, 3.0) is None
    assert extend_grid([7.0], 7.0) == 21.0  # one value is its own upper edge


def test_figure_3a_refuses_a_bad_epsilon_grid() -> None:
    for grid in ([1.0, 1.0], [-1.0]):
        with pytest.raises(MasError):
            Figure3a(epsilon_grid=grid)


def test_protocols_fill_what_is_not_given_and_given_settings_win() -> None:
    paper, quick = Figure2d(), Figure2d(protocol="quick")
    assert paper.lr == 1e-3 and paper.lr_schedule == "constant" and paper.stopping == "reference"
    assert paper.variables == ["count", "phase"] and not paper.whole_state and paper.ks == [1, 2, 4, 16, 64]
    assert paper.model_pairs() == [(0, 1), (0, 2), (1, 2)] and "stitch" in paper.methods
    assert quick.variables == ["count"] and quick.lr_schedule == "cosine" and quick.model_pairs() == [(0, 1)]
    assert Figure2d(lr=0.01, ks=None).lr == 0.01 and Figure3a(protocol="quick").cl_target == "matched"
    assert Figure3a().cl_target == "source_sequence" and Figure3a().ks == [64, 128]
    with pytest.raises(MasError):
        Figure2d(protocol="fast")
    with pytest.raises(MasError):
        Figure2d(model_seeds=[1, 1])


def test_figure_2d_summaries_from_rows() -> None:
    """Points, DAS − MAS gaps and the stitch plateau, worked out by hand on made-up rows."""
    from mas.experiments.figure_2d import mas_gaps, points, stitch_plateau

    rows = [{"method": "das", "size": 4, "seed": 0, "pair": p, "self": 0.9, "steps": 50, "stop_reason": "solved"}
            for p in ("a", "b")]
    rows += [{"method": "mas", "size": 4, "seed": 0, "pair": p, "cross": c, "steps": 75, "stop_reason": r}
             for p, c, r in (("a", 0.8, "ceiling"), ("b", 0.6, "plateau"))]
    rows += [{"method": "stitch", "size": r, "seed": 0, "pair": "a", "cross": c, "steps": 25, "stop_reason": "plateau"}
             for r, c in ((1, 0.2), (4, 0.69), (16, 0.7))]
    found = points(rows)
    assert [(p["method"], p["size"], p["mean"], p["n"], p["at_ceiling"]) for p in found][:2] == [
        ("das", 4, 0.9, 2, 0), ("mas", 4, pytest.approx(0.7), 2, 1)]
    mas = found[1]
    assert mas["low"] == pytest.approx(0.6) and mas["high"] == pytest.approx(0.8)  # resamples of two values
    (gap,) = mas_gaps(rows)
    assert gap["k"] == 4 and gap["mean"] == pytest.approx(0.2) and gap["n"] == 2
    assert stitch_plateau(found) == 16  # one run: rank 4's interval is its value 0.69 < 0.7
