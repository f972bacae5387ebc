"""Counterfactual latents and CLMAS: the CL loss, latent matching, and where gradients flow."""

import pytest
import torch
from torch.nn.utils import parametrize

from mas.adapters import TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, attach_latents, counterfactual_latent_loss, record_latents
from mas.align.counterfactual_latents import LatentBank, counterfactual_values
from mas.errors import MasError
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs

TASK = MultiObject(max_count=8)
MAPPING = {"count": "count"}


def test_cl_loss_is_zero_only_on_the_recorded_latent() -> None:
    latent = torch.randn(10, 16)
    assert float(counterfactual_latent_loss(latent.clone(), latent)) == pytest.approx(0.0, abs=1e-6)
    assert float(counterfactual_latent_loss(latent + 0.1 * torch.randn(10, 16), latent)) > 0
    assert float(counterfactual_latent_loss(2 * latent, latent)) > 0  # same direction, other scale


def test_latents_match_the_counterfactual_values(tiny_grus: list[TaskModelAdapter]) -> None:
    """A bank of short sequences (counts ≤ 3) serves only pairs whose counterfactual count is ≤ 3."""
    pairs = build_pairs(TASK, TASK, 200, MAPPING, seed=3)
    small = MultiObject(max_count=3)
    bank = record_latents(tiny_grus[1], "hidden", small, n_sequences=100, seed=0)
    matched = attach_latents(pairs, bank, TASK, TASK, MAPPING)
    assert 0 < matched.dropped < len(pairs) and len(matched) + matched.dropped == len(pairs)
    for slots in counterfactual_values(matched.pairs, TASK, TASK, MAPPING):
        assert all(v is None or v["count"] <= 3 for v in slots)
    used = matched.pairs.target_positions >= 0
    assert matched.latents[used].abs().sum(-1).gt(0).all()
    with pytest.raises(MasError, match="no pair found a recorded latent"):
        attach_latents(pairs, LatentBank(bank.states, {}, bank.variables), TASK, TASK, MAPPING)


def objective_grads(trainer: AlignmentTrainer, train: dict, latents: dict) -> list[torch.Tensor]:
    maps = trainer.new_maps(seed=0)
    with parametrize.cached():
        trainer.objective(maps.matrices(), train, latents, torch.Generator().manual_seed(0)).backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad for p in maps.parameters()]


def test_clmas_with_zero_epsilon_sends_no_gradient_from_no_access(tiny_grus: list[TaskModelAdapter]) -> None:
    pairs = build_pairs(TASK, TASK, 128, MAPPING, seed=4)
    bank = record_latents(tiny_grus[1], "hidden", TASK, n_sequences=200, seed=0)
    latent_pairs = attach_latents(pairs, bank, TASK, TASK, MAPPING)
    access = {(0, 0): pairs, (1, 0): pairs}
    no_access = {(0, 1): latent_pairs, (1, 1): latent_pairs}

    def trainer(epsilon: float) -> AlignmentTrainer:
        return AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(k=8, batch_size=32, cl_weight=epsilon))

    alone = objective_grads(trainer(0.0), {}, no_access)
    assert all(float(g.abs().max()) == 0.0 for g in alone)
    behaviour_only = objective_grads(trainer(0.0), access, {})
    with_cl_off = objective_grads(trainer(0.0), access, no_access)
    with_cl_on = objective_grads(trainer(1.0), access, no_access)
    assert all(torch.equal(a, b) for a, b in zip(behaviour_only, with_cl_off))
    assert any(not torch.allclose(a, b) for a, b in zip(behaviour_only, with_cl_on))
    assert float(objective_grads(trainer(1.0), {}, no_access)[1].abs().max()) > 0


def test_negative_epsilon_is_refused() -> None:
    with pytest.raises(MasError, match="ε"):
        AlignConfig(cl_weight=-0.5)
