"""Shared fixtures: tiny Multi-Object GRUs trained once per test session."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from mas.adapters import TaskModelAdapter
from mas.models import TaskModelConfig, TransformerModel, load_checkpoint, save_checkpoint
from mas.models.training import TrainConfig, is_finished, train_task_model, trained_with
from mas.tasks import MultiObject

torch.set_num_threads(2)


# Counts up to 8 and width 48 keep sequences short and steps cheap, yet the task is the real one.
TINY = dict(task="multi_object", arch="gru", width=48, max_steps=1500, eval_every=50,
            heldout_counts=[4], options={"max_count": 8})


@pytest.fixture(scope="session")
def tiny_gru_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two tiny GRUs; with MAS_TEST_MODELS=DIR they are kept there and reused by later test runs
    (only models trained with exactly these settings are reused)."""
    cache = os.environ.get("MAS_TEST_MODELS")
    root = Path(cache) if cache else tmp_path_factory.mktemp("models")
    folders = []
    for seed in (0, 1):
        folder, cfg = root / f"gru-s{seed}", TrainConfig(seed=seed, **TINY)
        if cache and is_finished(folder) and trained_with(folder, cfg):
            config = load_checkpoint(folder)[1]
        else:
            config = train_task_model(cfg, folder, show_progress=False)
        assert config.heldout_accuracy >= 0.99, config
        folders.append(folder)
    return folders


@pytest.fixture(scope="session")
def tiny_grus(tiny_gru_folders: list[Path]) -> list[TaskModelAdapter]:
    return [TaskModelAdapter(load_checkpoint(f)[0], name=f.name) for f in tiny_gru_folders]



@pytest.fixture(scope="session")
def inprocess_sweep(tiny_gru_folders: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The rows of `ray_sweep.small_spec` run in this process: what every Ray run must reproduce."""
    from mas.experiments.sweep import run_sweep
    from ray_sweep import small_spec

    return run_sweep(small_spec(tiny_gru_folders), tmp_path_factory.mktemp("sweep") / "rows.jsonl", show_progress=False)


# The fault-injection suite kills and reruns real commands for minutes: `make faults` runs it.
collect_ignore = [] if os.environ.get("MAS_FAULTS") else ["faults"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cuda` are skipped where torch sees no GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def figure_2ab_models(tiny_gru_folders: list[Path], tmp_path: Path) -> Path:
    """Tiny GRUs under the names the figure looks for, beside an untrained tiny transformer."""
    folder = tmp_path / "models"
    for seed, gru in enumerate(tiny_gru_folders):
        shutil.copytree(gru, folder / f"multi_object-gru-s{seed}")
    task = MultiObject(max_count=8, void_prob=0.2)
    config = TaskModelConfig(arch="transformer", task="multi_object", task_options={"max_count": 8, "void_prob": 0.2},
                             vocab_size=task.vocab_size, width=48)
    save_checkpoint(folder / "multi_object-transformer-s0", TransformerModel(task.vocab_size, width=48), config)
    return folder
