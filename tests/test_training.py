"""Task-model training: which sizes are held out, and how weights start."""

from pathlib import Path

import torch

from mas.models import load_checkpoint
from mas.models.training import TrainConfig, train_task_model, training_counts
from mas.tasks import make_task

QUICK = dict(width=16, max_steps=1, eval_every=1, eval_sequences=4)


def embedding_table(folder: Path) -> torch.Tensor:
    model, _ = load_checkpoint(folder)
    return next(p for name, p in model.named_parameters() if "emb" in name).detach()


def test_counting_tasks_hold_out_their_sizes_and_arithmetic_none(tmp_path: Path) -> None:
    rounding = train_task_model(TrainConfig(task="rounding", **QUICK), tmp_path / "r", show_progress=False)
    assert rounding.heldout_counts == [4, 9, 14, 17]
    assert not set(training_counts(make_task("rounding"), rounding.heldout_counts)) & {4, 9, 14, 17}
    # Every r has a token of its own; a never-trained token could not be answered.
    arithmetic = train_task_model(TrainConfig(task="arithmetic", **QUICK), tmp_path / "a", show_progress=False)
    assert arithmetic.heldout_counts == []
    assert training_counts(make_task("arithmetic"), []) == list(range(1, 21))


def test_architectures_of_one_seed_start_from_different_embeddings(tmp_path: Path) -> None:
    for arch in ("gru", "transformer"):
        train_task_model(TrainConfig(arch=arch, seed=0, **QUICK), tmp_path / arch, show_progress=False)
    tables = [embedding_table(tmp_path / arch) for arch in ("gru", "transformer")]
    assert tables[0].shape == tables[1].shape
    cosine = torch.nn.functional.cosine_similarity(tables[0].flatten(), tables[1].flatten(), dim=0)
    assert abs(float(cosine)) < 0.3
