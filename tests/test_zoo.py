"""`mas zoo` on a tiny population: two trained GRUs, a unit-permuted copy, an untrained control."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mas.align import Rotations
from mas.cli import app
from mas.errors import MasError
from mas.experiments.zoo import ZooAddition, ZooJob, add_to_zoo, run_zoo, zoo_align_config
from mas.models import GRUModel, load_checkpoint, save_checkpoint
from mas.models.training import TrainConfig, train_task_model

SMALL = dict(task="multi_object", arch="gru", width=32, max_steps=600, eval_every=50, eval_sequences=200,
             heldout_counts=[3], options={"max_count": 6})


def permuted_copy(folder: Path, out: Path, seed: int) -> Path:
    """The same GRU with its hidden units in another order: it computes exactly what the original does."""
    model, config = load_checkpoint(folder)
    order = torch.randperm(model.width, generator=torch.Generator().manual_seed(seed))
    gates = torch.cat([order + i * model.width for i in range(3)])  # GRUCell stacks the r, z and n gates
    with torch.no_grad():
        model.cell.weight_ih.copy_(model.cell.weight_ih[gates])
        model.cell.weight_hh.copy_(model.cell.weight_hh[gates][:, order])
        model.cell.bias_ih.copy_(model.cell.bias_ih[gates])
        model.cell.bias_hh.copy_(model.cell.bias_hh[gates])
        model.readout[0].weight.copy_(model.readout[0].weight[:, order])
    save_checkpoint(out, model, config)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, as `mas` commands use for task models: two threads on a busy machine only wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo-models")
    models = {}
    for seed in (0, 1):
        folder = root / f"gru-s{seed}"
        config = train_task_model(TrainConfig(seed=seed, **SMALL), folder, show_progress=False)
        assert config.heldout_accuracy >= 0.99, config
        models[folder.name] = folder
    models["gru-s0-permuted"] = permuted_copy(models["gru-s0"], root / "gru-s0-permuted", seed=7)
    models["gru-s1-permuted"] = permuted_copy(models["gru-s1"], root / "gru-s1-permuted", seed=8)
    config = load_checkpoint(models["gru-s0"])[1]
    untrained = GRUModel(config.vocab_size, width=32, embed_width=32)
    models["untrained"] = root / "untrained"
    save_checkpoint(models["untrained"], untrained, config.model_copy(update={"seed": 99}))
    return models


@pytest.fixture(scope="module")
def zoo_run(population: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    settings = {"k": 8, "steps": 300, "eval_every": 300, "batch_size": 32, "lr": 1e-2}
    align = zoo_align_config().model_copy(update=settings)
    names = ["gru-s0", "gru-s1", "untrained", "gru-s0-permuted"]
    job = ZooJob(models=[population[n] for n in names], train_pairs=512, test_pairs=100, validation_pairs=16,
                 similarity_rows=200, similarity_repeats=1, align=align)
    out = tmp_path_factory.mktemp("zoo") / "run"
    return out, run_zoo(job, out, show_progress=False)


def cell(results: dict, source: str, target: str) -> float:
    models = results["models"]
    return results["iia_matrix"][models.index(source)][models.index(target)]


def test_trained_models_align_and_the_untrained_control_does_not(zoo_run: tuple[Path, dict]) -> None:
    _, results = zoo_run
    for a, b in [("gru-s0", "gru-s1"), ("gru-s1", "gru-s0"), ("gru-s0", "gru-s0-permuted")]:
        assert cell(results, a, b) >= 0.75, results["iia_matrix"]
    for other in ("gru-s0", "gru-s1"):
        assert cell(results, other, "untrained") <= 0.35, results["iia_matrix"]
        assert cell(results, "untrained", other) <= 0.35, results["iia_matrix"]


def test_the_permuted_copy_clusters_next_to_its_original(zoo_run: tuple[Path, dict]) -> None:
    _, results = zoo_run
    order = results["cluster_order"]
    assert abs(order.index("gru-s0") - order.index("gru-s0-permuted")) == 1, order
    assert order.index("untrained") in (0, len(order) - 1), order
    # Correlational measures see the permutation as no change at all: linear CKA is permutation-invariant.
    models = results["models"]
    assert results["cka"][models.index("gru-s0")][models.index("gru-s0-permuted")] == pytest.approx(1.0, abs=1e-4)


def test_the_run_folder_holds_every_output(zoo_run: tuple[Path, dict]) -> None:
    out, results = zoo_run
    for name in ("results.json", "iia.json", "iia.csv", "cka.csv", "rsa.csv", "rotations.safetensors", "zoo.png",
                 "embedding.png"):
        assert (out / name).is_file(), name
    header, *rows = (out / "iia.csv").read_text().splitlines()
    assert header.split(",") == ["model", *results["models"]] and len(rows) == 4
    assert json.loads((out / "iia.json").read_text())["iia"] == results["iia_matrix"]
    assert results["direction_sampling"] == "derangement"


def test_adding_a_model_trains_only_its_rotation(zoo_run: tuple[Path, dict], population: dict[str, Path],
                                                 tmp_path: Path) -> None:
    base, before = zoo_run
    out = tmp_path / "added"
    after = add_to_zoo(ZooAddition(base=base, models=[population["gru-s1-permuted"]]), out, show_progress=False)
    old, new = Rotations.load(base / "rotations.safetensors"), Rotations.load(out / "rotations.safetensors")
    for q, r in zip(old.matrices(), new.matrices()):
        assert torch.equal(q, r)
    assert len(new.widths) == 5
    assert [row[:4] for row in after["iia_matrix"][:4]] == before["iia_matrix"]
    assert cell(after, "gru-s1", "gru-s1-permuted") >= 0.7 and cell(after, "gru-s1-permuted", "gru-s0") >= 0.7
    assert cell(after, "gru-s1-permuted", "untrained") <= 0.35
    assert after["trained_models"] == [4]


def test_the_command_refuses_a_folder_that_is_no_zoo_run(population: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["zoo", str(population["gru-s0"]), "--add-to", str(tmp_path), "--out",
                                      str(tmp_path / "out"), "--json"])
    assert result.exit_code == 2
    assert "not a finished zoo run" in json.loads(result.stdout.splitlines()[-1])["error"]
    assert not (tmp_path / "out").exists()


def test_models_with_the_same_name_are_refused(population: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MasError, match="distinct names"):
        run_zoo(ZooJob(models=[population["gru-s0"], population["gru-s0"]]), tmp_path / "run", show_progress=False)
