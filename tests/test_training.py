"""Task-model training: which sizes are held out, and how weights start."""

from pathlib import Path

import pytest
import torch

from mas.models import load_checkpoint
from mas.errors import MasError
from mas.models.training import (
    TRAIN,
    TrainConfig,
    claim_model_folder,
    heldout_accuracy,
    heldout_policy,
    model_folder,
    train_task_model,
    trained_with,
    training_counts,
)
from mas.run_folder import write_marker
from mas.threads import using_threads
from mas.tasks import make_task

QUICK = dict(width=16, max_steps=1, eval_every=1, eval_sequences=4)


def embedding_table(folder: Path) -> torch.Tensor:
    model, _ = load_checkpoint(folder)
    return next(p for name, p in model.named_parameters() if "emb" in name).detach()


@pytest.mark.parametrize(("task", "heldout"), [("multi_object", [4, 9, 14, 17]), ("same_object", [4, 9, 14, 17]),
                                             ("rounding", []), ("modulo", []), ("arithmetic", [])])
def test_each_family_holds_out_its_policys_sizes(tmp_path: Path, task: str, heldout: list[int]) -> None:
    config = train_task_model(TrainConfig(task=task, **QUICK), tmp_path / task, show_progress=False)
    assert config.heldout_counts == heldout
    assert list(config.heldout_by_size) == heldout
    trained = training_counts(make_task(task), config.heldout_counts)
    assert trained == [c for c in range(1, 21) if c not in heldout]
    assert heldout_policy(heldout) == ("sizes 4,9,14,17 held out" if heldout else "no size held out; fresh sequences")


def test_rule_family_trained_on_every_size_solves_fresh_sequences(tmp_path: Path) -> None:
    """A Modulo GRU (counts up to 6) reaches 0.99 on two test streams the training stream never draws."""
    cfg = TrainConfig(task="modulo", width=48, max_steps=1500, eval_every=50, options={"max_count": 6})
    with using_threads(1):  # what `mas train` uses for task models
        config = train_task_model(cfg, tmp_path / "modulo", show_progress=False)
    assert config.heldout_counts == [] and config.steps < cfg.max_steps
    model, _ = load_checkpoint(tmp_path / "modulo")
    task = make_task("modulo", max_count=6)
    for stream in (7, 8):  # seeds no training or stopping check used
        assert heldout_accuracy(model, task, [], 1000, stream) >= 0.99
    assert config.heldout_accuracy >= 0.99


def test_architectures_of_one_seed_start_from_different_embeddings(tmp_path: Path) -> None:
    for arch in ("gru", "transformer"):
        train_task_model(TrainConfig(arch=arch, seed=0, **QUICK), tmp_path / arch, show_progress=False)
    tables = [embedding_table(tmp_path / arch) for arch in ("gru", "transformer")]
    assert tables[0].shape == tables[1].shape
    cosine = torch.nn.functional.cosine_similarity(tables[0].flatten(), tables[1].flatten(), dim=0)
    assert abs(float(cosine)) < 0.3


def test_a_model_trained_under_an_earlier_policy_is_not_reused(tmp_path: Path) -> None:
    """A Rounding model whose default run held out 4, 9, 14, 17 is not the model `mas train --task rounding` makes now."""
    cfg = TrainConfig(task="rounding", **QUICK)
    folder = model_folder(cfg, tmp_path)
    train_task_model(cfg.model_copy(update={"heldout_counts": [4, 9, 14, 17]}), folder, show_progress=False)
    write_marker(folder, TRAIN, cfg)  # what the earlier default run recorded: no held-out sizes named
    assert trained_with(folder, cfg) is False
    with pytest.raises(MasError, match="other"):
        claim_model_folder(folder, cfg)
