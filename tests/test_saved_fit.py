"""A fit made from Python, saved as a run folder: `mas evaluate` and `mas export` take it like `mas align`'s."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.adapters import TaskModelAdapter
from mas.adapters.module import ModuleAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.cli import app
from mas.errors import MasError
from mas.evaluate import evaluate_iia
from mas.experiments.artifacts import evaluate_run
from mas.experiments.saved_fit import load_fit, save_fit
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs

TASK = MultiObject(max_count=8)
runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tiny_gru_folders: list[Path], tiny_grus: list[TaskModelAdapter], tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, dict]:
    """DAS on the first tiny GRU, fitted in Python and saved with its model folder."""
    train, test = (build_pairs(TASK, TASK, n, {"count": "count"}, seed=s) for n, s in ((2048, 30), (300, 31)))
    trainer = AlignmentTrainer(tiny_grus[:1], ["hidden"], AlignConfig(k=8, steps=300, eval_every=100))
    fit = trainer.fit({(0, 0): train}, show_progress=False)
    folder = tmp_path_factory.mktemp("fits") / "das"
    return folder, save_fit(folder, trainer, fit, {(0, 0): test}, models=tiny_gru_folders[:1])


def cli(*args: object) -> dict:
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_mas_evaluate_rescores_a_saved_python_fit(saved: tuple[Path, dict]) -> None:
    folder, results = saved
    assert results["iia"]["0->0"] >= 0.75 and results["control_iia"] <= 0.2, results
    evaluated = cli("evaluate", folder, "--pairs", 300)
    assert evaluated["iia_matrix"] == results["iia_matrix"] and evaluated["pairs"] == 300
    assert evaluated["control_iia"] <= 0.2


def test_mas_export_writes_the_saved_fits_subspace(saved: tuple[Path, dict], tmp_path: Path) -> None:
    folder, results = saved
    metadata = cli("export", folder, "--out", tmp_path / "export")
    assert metadata["k"] == 8 and metadata["sites"] == ["hidden"] and metadata["iia"] == results["iia"]
    assert (tmp_path / "export" / "subspaces.safetensors").is_file()


def test_load_fit_continues_in_python(saved: tuple[Path, dict], tiny_grus: list[TaskModelAdapter]) -> None:
    folder, results = saved
    trainer, rotations, test = load_fit(folder, tiny_grus[:1])
    assert evaluate_iia(trainer, rotations, test)[(0, 0)].trial == results["iia"]["0->0"]


def test_a_fit_on_plain_modules_is_evaluated_from_python_and_refused_by_the_cli(
    tiny_grus: list[TaskModelAdapter], tmp_path: Path
) -> None:
    pairs = build_pairs(TASK, TASK, 64, {"count": "count"}, seed=32)
    module = ModuleAdapter(tiny_grus[0].model, pairs.tokens[:2], lambda m, x: m(x)[0], name="plain")
    trainer = AlignmentTrainer([module], ["cell"], AlignConfig(k=4, steps=2))
    fit = trainer.fit({(0, 0): pairs}, show_progress=False)
    results = save_fit(tmp_path / "plain", trainer, fit, {(0, 0): pairs})
    again = evaluate_run(tmp_path / "plain", 64, seed=0, adapters=[module])
    assert again["iia_matrix"] == results["iia_matrix"]
    refused = runner.invoke(app, ["evaluate", str(tmp_path / "plain")])
    assert refused.exit_code == 2 and "only Python can rebuild" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    with pytest.raises(MasError, match="aligned 1 models but 2 adapters"):
        load_fit(tmp_path / "plain", [module, module])
