"""`mas figure 3b` end to end on tiny models, and `mas models` listing them."""

import json
from pathlib import Path

from typer.testing import CliRunner

from mas.cli import app
from mas.models.training import TrainConfig, model_folder, train_task_model

TINY = dict(arch="gru", width=32, max_steps=10, eval_every=10, eval_sequences=20, heldout_counts=[4],
            options={"max_count": 8})


def _models_dir(root: Path) -> Path:
    """Briefly trained GRUs where the figure looks for them, and a folder that holds no model."""
    models = root / "models"
    for task, seed in (("multi_object", 0), ("multi_object", 1), ("rounding", 0)):
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
    assert [(r["task"], r["seed"]) for r in rows] == [("multi_object", 0), ("multi_object", 1), ("rounding", 0)]
    assert all(r["steps"] == 10 and 0 <= r["heldout_accuracy"] <= 1 for r in rows)
    assert all(list(r["heldout_by_size"]) == ["4"] and 0 <= r["heldout_by_size"]["4"] <= 1 for r in rows)
    assert "4:" in runner.invoke(app, ["models", "--models-dir", str(models)]).output

    out = tmp_path / "figure"
    args = ["figure", "3b", "--models-dir", str(models), "--out", str(out), "--families", "multi_object,rounding",
            "--k", "4", "--steps", "3", "--batch-size", "8", "--train-pairs", "32", "--validation-pairs", "8", "--test-pairs", "16", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert [r["family"] for r in summary["rows"]] == ["multi_object", "rounding"]
    assert {"figure_3b.png", "table.csv", "results.json"} <= {p.name for p in out.iterdir()}
    assert (out / "table.csv").read_text().splitlines()[0].startswith("family,reference_model,family_model,family_accuracy,ref->ref")
    assert len(list((tmp_path / "figure.parts").iterdir())) == 5  # DAS of 3 models, MAS with 2 families

    again = runner.invoke(app, args)  # every run is reused, so the table is the same
    assert json.loads(again.output.strip().splitlines()[-1])["rows"] == summary["rows"]


def test_unknown_family_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["figure", "3b", "--models-dir", str(tmp_path), "--families", "juggling"])
    assert result.exit_code == 2
    assert "unknown task family 'juggling'" in result.output
