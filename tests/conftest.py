"""Shared fixtures: tiny Multi-Object GRUs trained once per test session."""

from pathlib import Path

import pytest
import torch

from mas.models import TaskModelAdapter, load_checkpoint
from mas.models.training import TrainConfig, train_task_model

torch.set_num_threads(2)

# Counts up to 8 and width 48 keep sequences short and steps cheap, yet the task is the real one.
TINY = dict(task="multi_object", arch="gru", width=48, max_steps=1500, eval_every=50,
            heldout_counts=[4], options={"max_count": 8})


@pytest.fixture(scope="session")
def tiny_gru_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("models")
    folders = []
    for seed in (0, 1):
        folder = root / f"gru-s{seed}"
        config = train_task_model(TrainConfig(seed=seed, **TINY), folder, show_progress=False)
        assert config.heldout_accuracy >= 0.99, config
        folders.append(folder)
    return folders


@pytest.fixture(scope="session")
def tiny_grus(tiny_gru_folders: list[Path]) -> list[TaskModelAdapter]:
    return [TaskModelAdapter(load_checkpoint(f)[0], name=f.name) for f in tiny_gru_folders]
