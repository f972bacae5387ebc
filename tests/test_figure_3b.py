"""`mas figure 3b` end to end on tiny models, and `mas models` listing them."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.cli import app
from mas.models.training import TrainConfig, model_folder, train_task_model

TINY = dict(arch="gru", width=32, max_steps=10, batch_size=16, eval_every=10, eval_sequences=20, heldout_counts=[4],
            options={"max_count": 8})


def _models_dir(root: Path) -> Path:
    """Briefly trained GRUs where the figure looks for them, and a folder that holds no model."""
    models = root / "models"
    for task, seed in (("multi_object", 0), ("rounding", 0), ("same_object", 0)):
        cfg = TrainConfig(task=task, seed=seed, **TINY)
        train_task_model(cfg, model_folder(cfg, models), show_progress=False)
    (models / "unfinished").mkdir()
    return models


def test_models_table_and_figure_3b(tmp_path: Path) -> None:
    models = _models_dir(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "--models-dir", str(models), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output.strip().splitlines()[-1])["models"]
    assert [(r["task"], r["seed"]) for r in rows] == [("multi_object", 0), ("rounding", 0), ("same_object", 0)]
    assert all(r["steps"] == 10 and 0 <= r["heldout_accuracy"] <= 1 for r in rows)
    assert all(list(r["heldout_by_size"]) == ["4"] and 0 <= r["heldout_by_size"]["4"] <= 1 for r in rows)
    assert "4:" in runner.invoke(app, ["models", "--models-dir", str(models)]).output

    out = tmp_path / "figure"
    args = ["figure", "3b", "--models-dir", str(models), "--out", str(out), "--families", "rounding,same_object",
            "--seeds", "0,1", "--k", "4", "--steps", "3", "--batch-size", "8", "--train-pairs", "32",
            "--validation-pairs", "8", "--test-pairs", "16", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert [(r["family"], r["variable"], r["seed"]) for r in summary["rows"]] == [
        ("rounding", "count", 0), ("same_object", "remaining.remaining", 0),
        ("rounding", "count", 1), ("same_object", "remaining.remaining", 1)]
    assert {"figure_3b.png", "table.csv", "results.json"} <= {p.name for p in out.iterdir()}
    with (out / "table.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [(r["family"], r["seed"]) for r in table] == [(r["family"], str(r["seed"])) for r in summary["rows"]]
    assert len(list((tmp_path / "figure.parts").iterdir())) == 10  # per seed: DAS of 3 models, MAS with 2 families

    saved = json.loads((out / "results.json").read_text())
    for bar in saved["bars"]:  # the mean of the two seeds' rows, inside its interval
        mine = [r for r in saved["rows"] if r["family"] == bar["family"]]
        for name in ("ref->family", "das_family"):
            point = bar[name]
            assert point["n"] == 2 and point["low"] <= point["mean"] <= point["high"]
            assert point["mean"] == pytest.approx(sum(r[name] for r in mine) / 2)
    assert saved["das_reference"]["n"] == 2
    assert saved["variables"]["same_object"] == {"variable": "remaining", "causal_model": "remaining"}
    assert saved["variables"]["multi_object"] == {"variable": "count", "causal_model": None}
    mas = saved["runs"]["same_object/seed1"]["mas"]  # pairs from each model's own causal model
    assert (mas["causal_models"], mas["variables"]) == ([None, "remaining"], ["count", "remaining"])

    again = runner.invoke(app, args)  # every run is reused, so the table is the same
    assert json.loads(again.output.strip().splitlines()[-1])["rows"] == summary["rows"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--families", "juggling"], "unknown task family 'juggling'"),
    (["--variables", "same_object=juggling.count"], "no causal model 'juggling'"),
    (["--variables", "same_object=remaining.count"], "has no variable 'count'"),
    (["--variables", "same_object"], "is not FAMILY=[MODEL.]VARIABLE"),
    (["--seeds", "0,0"], "lists a seed twice"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, flags: list[str], message: str) -> None:
    out = tmp_path / "figure"
    result = CliRunner().invoke(app, ["figure", "3b", "--models-dir", str(tmp_path / "models"), "--out", str(out), *flags])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists() and not (tmp_path / "models").exists()
