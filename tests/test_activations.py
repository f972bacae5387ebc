"""Paired activation rows for the correlational measures: shared stimuli, shared subsamples."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mas.errors import MasError
from mas.experiments.activations import (
    comparison_tokens,
    model_activations,
    repeated_similarity,
    row_subsets,
    summarize,
)
from mas.tasks import MultiObject
from mas.tasks.base import PAD


def test_stimuli_are_fifteen_sequences_per_count_of_the_tasks_own_range() -> None:
    task = MultiObject(max_count=8)
    tokens = comparison_tokens(task, seed=3)
    responses = (tokens == task.token("R")).sum(1)
    assert sorted(responses.tolist()) == sorted(list(range(1, 9)) * 15)
    assert torch.equal(tokens, comparison_tokens(task, seed=3))
    assert not torch.equal(tokens, comparison_tokens(task, seed=4))


def test_row_subsets_are_seeded_distinct_and_bounded() -> None:
    draws = row_subsets(500, rows=100, repeats=3, seed=7)
    assert len(draws) == 3 and all(len(np.unique(d)) == 100 and d.max() < 500 for d in draws)
    assert all(np.array_equal(a, b) for a, b in zip(draws, row_subsets(500, rows=100, repeats=3, seed=7)))
    assert not np.array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], row_subsets(500, rows=100, repeats=1, seed=8)[0])
    with pytest.raises(MasError, match="only 500"):
        row_subsets(500, rows=501)


def test_both_models_are_subsampled_on_the_same_rows() -> None:
    """Y is X rotated into a wider space: identical geometry, so CKA and RSA are 1 only if rows pair up."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=generator, dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(9, 6, generator=generator, dtype=torch.float64))[0]  # 9×6, orthonormal columns
    y = x @ basis.T
    values = repeated_similarity(x, y, ["cka_linear", "rsa_cosine_spearman"], rows=100, repeats=4, seed=1)
    assert all(len(v) == 4 for v in values.values())
    assert np.allclose(values["cka_linear"], 1.0) and np.allclose(values["rsa_cosine_spearman"], 1.0)
    shuffled = repeated_similarity(x, y[torch.randperm(400, generator=generator)], ["cka_linear"], rows=100, repeats=4)
    assert max(shuffled["cka_linear"]) < 0.5
    noisy = y + 0.3 * torch.randn(y.shape, generator=generator, dtype=torch.float64)
    first = repeated_similarity(x, noisy, ["cka_linear"], rows=100, repeats=4, seed=1)
    assert first == repeated_similarity(x, noisy, ["cka_linear"], rows=100, repeats=4, seed=1)
    assert first != repeated_similarity(x, noisy, ["cka_linear"], rows=100, repeats=4, seed=2)
    stats = summarize(values)["cka_linear"]
    assert stats["mean"] == pytest.approx(1.0) and stats["std"] == pytest.approx(0.0, abs=1e-12)


def test_bad_matrices_are_refused() -> None:
    x = torch.randn(50, 4)
    with pytest.raises(MasError, match="pair rows"):
        repeated_similarity(x, torch.randn(49, 4), rows=10)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(MasError, match="NaN"):
        repeated_similarity(x, bad, ["cka_linear"], rows=50, repeats=1)
    with pytest.raises(MasError, match="at least one"):
        comparison_tokens(MultiObject(), per_count=0)


def test_activations_of_two_models_pair_every_non_pad_position(tiny_gru_folders: list[Path]) -> None:
    hidden, embed = model_activations(tiny_gru_folders, ["hidden", "embed"], per_count=2)
    tokens = comparison_tokens(MultiObject(max_count=8), per_count=2)
    assert hidden.shape == (int((tokens != PAD).sum()), 48) and embed.shape == hidden.shape
    assert torch.isfinite(hidden).all()
    with pytest.raises(MasError, match="unknown site"):
        model_activations(tiny_gru_folders, ["hidden", "layers.0"])
    with pytest.raises(MasError, match="missing model folder"):
        model_activations([tiny_gru_folders[0], tiny_gru_folders[0].parent / "nope"], ["hidden", "hidden"])
