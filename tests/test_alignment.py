"""Rotations, the interchange, and MAS/DAS training on tiny trained GRUs."""

from pathlib import Path

import pytest
import torch
from torch import nn

from mas.adapters import Intervention, TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, Rotations, interchange_edit
from mas.errors import MasError
from mas.evaluate import evaluate_iia, random_rotation_control
from mas.models import GRUModel, TransformerModel
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs

TASK = MultiObject(max_count=8)


def orthogonality_error(q: torch.Tensor) -> float:
    q = q.detach()
    return float((q.T @ q - torch.eye(q.shape[0], dtype=q.dtype)).norm())


def trained_rotations(orthogonal_map: str) -> Rotations:
    rotations = Rotations([16, 24], seed=3, orthogonal_map=orthogonal_map)
    optimizer = torch.optim.Adam(rotations.parameters(), lr=0.1)
    for _ in range(20):  # large steps on an arbitrary loss
        optimizer.zero_grad()
        sum(q[:, :4].sum() ** 2 for q in rotations.matrices()).backward()
        optimizer.step()
    return rotations


@pytest.mark.parametrize("orthogonal_map", ["cayley", "matrix_exp"])
def test_rotations_are_orthogonal_and_reload_exactly(tmp_path: Path, orthogonal_map: str) -> None:
    rotations = trained_rotations(orthogonal_map)
    for q in rotations.matrices():
        assert orthogonality_error(q) <= 1e-10
    rotations.save(tmp_path / "r.safetensors")
    again = Rotations.load(tmp_path / "r.safetensors")
    assert again.orthogonal_map == orthogonal_map
    for q, r in zip(rotations.matrices(), again.matrices()):
        assert torch.equal(q, r)


def test_a_rotation_file_naming_no_map_is_read_with_the_matrix_exponential(tmp_path: Path) -> None:
    """Files written before rotations named their map were all trained with the exponential."""
    from safetensors.torch import save_file

    rotations = trained_rotations("matrix_exp")
    save_file({k: v.contiguous() for k, v in rotations.state_dict().items()}, str(tmp_path / "old.safetensors"))
    again = Rotations.load(tmp_path / "old.safetensors")
    for q, r in zip(rotations.matrices(), again.matrices()):
        assert torch.equal(q, r)
    # The same parameters under the other map are another rotation: naming the map matters.
    other = Rotations([16, 24], orthogonal_map="cayley")
    other.load_state_dict(rotations.state_dict())
    assert not torch.allclose(other.matrices()[0], rotations.matrices()[0], atol=1e-3)


def test_fresh_rotations_are_the_same_under_either_map() -> None:
    """The random-rotation control and a fit's starting point do not depend on the map."""
    for q, r in zip(Rotations([16, 24], seed=5).matrices(), Rotations([16, 24], seed=5, orthogonal_map="matrix_exp").matrices()):
        assert torch.allclose(q, r, atol=1e-12)


def test_unknown_orthogonal_map_is_refused() -> None:
    with pytest.raises(MasError, match="unknown orthogonal map"):
        Rotations([4], orthogonal_map="householder")  # type: ignore[arg-type]


def test_corrupt_rotation_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.safetensors"
    path.write_bytes(b"not a tensor file")
    with pytest.raises(MasError, match="corrupt"):
        Rotations.load(path)


@pytest.mark.parametrize("model", [GRUModel(9, width=32, embed_width=32), TransformerModel(9, width=32)])
def test_self_interchange_changes_nothing(model: nn.Module) -> None:
    """Swapping a state's aligned dims for its own leaves every logit as it was."""
    torch.manual_seed(0)
    adapter = TaskModelAdapter(model)
    tokens = torch.tensor([TASK.sample(__import__("numpy").random.default_rng(i), [6]) for i in range(4)])
    site = adapter.sites[-1]
    states = adapter.read(site, tokens)
    q = Rotations([32], seed=1).matrices()[0].detach().float()
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, 2:6] = True
    own = interchange_edit(states @ q[:, :8], q[:, :8])
    with torch.no_grad():
        plain = adapter.run(tokens)
        swapped = adapter.run(tokens, Intervention(site, mask, own))
        other = adapter.run(tokens, Intervention(site, mask, interchange_edit(torch.randn(4, 12, 8) * 5, q[:, :8])))
    assert torch.allclose(plain, swapped, atol=1e-5)
    assert not torch.allclose(plain, other, atol=1e-3)  # the check can fail: a real swap changes outputs


def pair_sets(n_train: int = 2048) -> tuple[dict, dict, dict]:
    train = build_pairs(TASK, TASK, n_train, {"count": "count"}, seed=11)
    val = build_pairs(TASK, TASK, 256, {"count": "count"}, seed=12)
    test = build_pairs(TASK, TASK, 512, {"count": "count"}, seed=13)
    return train, val, test


def test_das_on_a_trained_gru_beats_its_controls(tiny_grus: list[TaskModelAdapter]) -> None:
    train, val, test = pair_sets()
    trainer = AlignmentTrainer(tiny_grus[:1], ["hidden"], AlignConfig(k=8, steps=300, eval_every=100))
    fit = trainer.fit({(0, 0): train}, {(0, 0): val}, show_progress=False)
    iia = evaluate_iia(trainer, fit.rotations, {(0, 0): test})[(0, 0)]
    control = random_rotation_control(trainer, {(0, 0): test})[(0, 0)]
    untrained = TaskModelAdapter(GRUModel(TASK.vocab_size, width=48, embed_width=48))
    untrained_trainer = AlignmentTrainer([untrained], ["hidden"], AlignConfig(k=8))
    untrained_iia = evaluate_iia(untrained_trainer, fit.rotations, {(0, 0): test})[(0, 0)]
    assert iia.trial >= 0.75, iia
    assert control.trial <= 0.2, control
    assert untrained_iia.trial <= 0.2, untrained_iia


def test_mas_between_two_seeds(tiny_grus: list[TaskModelAdapter]) -> None:
    train, val, test = pair_sets()
    directions = [(0, 0), (0, 1), (1, 0), (1, 1)]
    trainer = AlignmentTrainer(tiny_grus, ["hidden", "hidden"], AlignConfig(k=8, steps=600, eval_every=100))
    fit = trainer.fit({d: train for d in directions}, {d: val for d in directions}, show_progress=False)
    scores = evaluate_iia(trainer, fit.rotations, {d: test for d in directions})
    assert min(s.trial for s in scores.values()) >= 0.6, scores
    for q in fit.rotations.matrices():
        assert orthogonality_error(q.detach()) <= 1e-5


def test_training_is_reproducible(tiny_grus: list[TaskModelAdapter]) -> None:
    train, val, test = pair_sets(256)
    runs = []
    for _ in range(2):
        trainer = AlignmentTrainer(tiny_grus, ["hidden", "hidden"], AlignConfig(k=4, steps=20, eval_every=10))
        fit = trainer.fit({(0, 1): train}, {(0, 1): val}, show_progress=False)
        runs.append((fit.history, evaluate_iia(trainer, fit.rotations, {(0, 1): test})))
    assert runs[0] == runs[1]


class RotatedBasis(nn.Module):
    """A model that is `inner` with its hidden state expressed in another orthonormal basis R."""

    def __init__(self, inner: GRUModel, basis: torch.Tensor) -> None:
        super().__init__()
        self.inner, self.basis = inner, basis
        self.sites, self.recurrent = inner.sites, inner.recurrent

    def site_width(self, site: str) -> int:
        return self.inner.site_width(site)

    def forward(self, tokens, intervention=None, feed_mask=None, capture=None, output_mask=None):  # type: ignore[no-untyped-def]
        r = self.basis
        if intervention is not None:
            edit = intervention.edit
            intervention = Intervention(intervention.site, intervention.mask, lambda h, b, i: edit(h @ r, b, i) @ r.T)
        logits, states = self.inner(tokens, intervention, feed_mask, capture, output_mask)
        return logits, (None if states is None else states @ r)


def test_known_change_of_basis_is_recovered(tiny_grus: list[TaskModelAdapter]) -> None:
    """B is A in a random orthonormal basis: MAS between them does as well as DAS inside A.

    The bar is relative to DAS because DAS on the count variable of this small GRU tops out near
    0.85: MAS cannot beat the model's own interchangeability.
    """
    train, val, test = pair_sets()
    model_a = tiny_grus[0]
    basis = torch.linalg.qr(torch.randn(48, 48, generator=torch.Generator().manual_seed(5)))[0]
    model_b = TaskModelAdapter(RotatedBasis(model_a.model, basis), name="rotated")
    config = AlignConfig(k=8, steps=300, eval_every=100)
    das = AlignmentTrainer([model_a], ["hidden"], config)
    das_fit = das.fit({(0, 0): train}, {(0, 0): val}, show_progress=False)
    das_iia = evaluate_iia(das, das_fit.rotations, {(0, 0): test})[(0, 0)].trial

    cross = [(0, 1), (1, 0)]
    mas = AlignmentTrainer([model_a, model_b], ["hidden", "hidden"], config)
    mas_fit = mas.fit({d: train for d in cross}, {d: val for d in cross}, show_progress=False)
    scores = evaluate_iia(mas, mas_fit.rotations, {d: test for d in cross})
    assert das_iia >= 0.75
    for direction in cross:
        assert scores[direction].trial >= das_iia - 0.03, (direction, scores, das_iia)


def test_k_wider_than_site_is_refused(tiny_grus: list[TaskModelAdapter]) -> None:
    with pytest.raises(MasError, match="larger than"):
        AlignmentTrainer(tiny_grus, ["hidden", "hidden"], AlignConfig(k=49))
    with pytest.raises(MasError, match="unknown site"):
        AlignmentTrainer(tiny_grus, ["hidden", "layers.0"], AlignConfig(k=4))


def test_patience_stops_a_run_that_no_longer_improves_and_keeps_its_best_parameters(
    tiny_grus: list[TaskModelAdapter],
) -> None:
    """Into an untrained GRU nothing can be learned, so validation stalls and patience ends the run."""
    train, val, _ = pair_sets(256)
    untrained = TaskModelAdapter(GRUModel(TASK.vocab_size, width=48, embed_width=48))
    config = AlignConfig(k=4, steps=400, eval_every=10, patience=2)
    trainer = AlignmentTrainer([tiny_grus[0], untrained], ["hidden", "hidden"], config)
    fit = trainer.fit({(0, 1): train}, {(0, 1): val}, show_progress=False)
    scores = [record["val_trial"]["0->1"] for record in fit.history]
    best = max(scores)
    assert fit.steps < config.steps
    assert fit.selected_step == fit.history[scores.index(best)]["step"]
    assert scores[-2:] and all(s <= best for s in scores[-2:]) and len(scores) - 1 - scores.index(best) == 2
    assert trainer.validation_accuracy(fit.rotations, {(0, 1): val})[(0, 1)] == pytest.approx(best)


def test_patience_needs_validation_pairs(tiny_grus: list[TaskModelAdapter]) -> None:
    train, _, _ = pair_sets(64)
    trainer = AlignmentTrainer(tiny_grus[:1], ["hidden"], AlignConfig(k=4, steps=5, patience=1))
    with pytest.raises(MasError, match="patience needs validation"):
        trainer.fit({(0, 0): train}, show_progress=False)
