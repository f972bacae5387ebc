"""`mas figure 3b` end to end on tiny models, and `mas models` listing them."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.cli import app
from mas.experiments.figure_3b import Figure3bConfig
from mas.models.training import TrainConfig, model_folder, train_task_model

TINY = dict(arch="gru", width=32, max_steps=10, batch_size=16, eval_every=10, eval_sequences=20, heldout_counts=[4],
            options={"max_count": 8})


def _models_dir(root: Path) -> Path:
    """Briefly trained GRUs where the figure looks for them, and a folder that holds no model."""
    models = root / "models"
    for task, seed in (("multi_object", 0), ("multi_object", 1), ("multi_object", 2), ("multi_object", 3),
                       ("rounding", 0), ("rounding", 1), ("same_object", 0), ("same_object", 1)):
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
    assert [(r["task"], r["seed"]) for r in rows][:2] == [("multi_object", 0), ("multi_object", 1)]
    assert all(r["steps"] == 10 and 0 <= r["heldout_accuracy"] <= 1 for r in rows)
    assert all(list(r["heldout_by_size"]) == ["4"] and 0 <= r["heldout_by_size"]["4"] <= 1 for r in rows)
    assert "4:" in runner.invoke(app, ["models", "--models-dir", str(models)]).output

    out = tmp_path / "figure"
    args = ["figure", "3b", "--protocol", "paper", "--models-dir", str(models), "--out", str(out),
            "--families", "rounding,same_object", "--model-seeds", "0,1", "--seeds", "0,1", "--k", "4",
            "--steps", "3", "--eval-every", "1", "--batch-size", "8", "--train-pairs", "32",
            "--validation-pairs", "8", "--test-pairs", "16", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["protocol"] == "paper"
    # Per seed, per model pair: the whole state of each family, then Same-Object's remaining count (supplementary).
    expected = [(family, variable, extra, f"multi_object-gru-s{i}|{family}-gru-s{i}", seed)
                for seed in (0, 1) for i in (0, 1)
                for family, variable, extra in (("rounding", "count+phase", False), ("same_object", "count+phase", False),
                                                ("same_object", "remaining.remaining", True))]
    assert [(r["family"], r["variable"], r["supplementary"], r["pair"], r["seed"]) for r in summary["rows"]] == expected
    assert {"figure_3b.png", "table.csv", "results.json"} <= {p.name for p in out.iterdir()}
    with (out / "table.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [(r["family"], r["seed"]) for r in table] == [(r["family"], str(r["seed"])) for r in summary["rows"]]
    # per seed and model pair: DAS of the reference and of 2 family models (two variables for Same-Object), 3 MAS
    assert len(list((tmp_path / "figure.parts").iterdir())) == 2 * 2 * (1 + 3 + 3)

    saved = json.loads((out / "results.json").read_text())
    for bar in saved["bars"]:  # the mean over 2 model pairs × 2 seeds, inside its interval
        mine = [r for r in saved["rows"] if (r["family"], r["variable"]) == (bar["family"], bar["variable"])]
        for name in ("ref->family", "das_family", "das_minus_transfer"):
            point = bar[name]
            assert point["n"] == 4 and point["low"] <= point["mean"] <= point["high"]
            assert point["mean"] == pytest.approx(sum(r[name] for r in mine) / 4)
    assert saved["das_reference"]["n"] == 4
    assert saved["variables"]["same_object"] == {"variables": ["count", "phase"], "causal_model": None}
    assert saved["supplementary"]["same_object"] == {"variables": ["remaining"], "causal_model": "remaining"}
    mas = saved["runs"]["multi_object-gru-s1+same_object-gru-s1-count+remaining.remaining-seed1"]
    assert (mas["causal_models"], mas["variables"]) == ([None, "remaining"], [["count"], ["remaining"]])
    whole = saved["runs"]["multi_object-gru-s0+rounding-gru-s0-count&phase+count&phase-seed0"]
    assert whole["variables"] == [["count", "phase"], ["count", "phase"]]
    assert {p["setting"] for p in saved["protocol"]} >= {"swap", "model_seeds", "steps", "stopping"}

    again = runner.invoke(app, args)  # every run is reused, so the table is the same
    assert json.loads(again.output.strip().splitlines()[-1])["rows"] == summary["rows"]


def test_multi_object_family_models_never_meet_their_reference() -> None:
    cfg = Figure3bConfig(protocol="quick", model_seeds=[0, 1, 2])
    assert [cfg.reference_model(i).seed for i in range(3)] == [0, 1, 2]
    assert [cfg.family_model("multi_object", i).seed for i in range(3)] == [3, 4, 5]
    assert [cfg.family_model("modulo", i).seed for i in range(3)] == [0, 1, 2]
    assert [str(cfg.variable(f)) for f in ("multi_object", "arithmetic")] == ["count", "rem_ops"]
    paper = Figure3bConfig(families=["arithmetic", "modulo"])
    assert [str(paper.variable(f)) for f in ("modulo", "arithmetic")] == ["count+phase", "rem_ops"]
    assert str(paper.reference_variable(paper.variable("arithmetic"))) == "count"


@pytest.mark.parametrize(("flags", "message"), [
    (["--families", "juggling"], "unknown task family 'juggling'"),
    (["--variables", "same_object=juggling.count"], "no causal model 'juggling'"),
    (["--variables", "same_object=remaining.count"], "has no variable 'count'"),
    (["--variables", "same_object"], "is not FAMILY=[MODEL.]VARIABLE"),
    (["--seeds", "0,0"], "a seed is listed twice"),
    (["--model-seeds", "0"], "at least 2 model seeds"),
    (["--protocol", "slow"], "unknown protocol 'slow'"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, flags: list[str], message: str) -> None:
    out = tmp_path / "figure"
    result = CliRunner().invoke(app, ["figure", "3b", "--models-dir", str(tmp_path / "models"), "--out", str(out), *flags])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists() and not (tmp_path / "models").exists()
