"""Model stitching through the alignment trainer, and its relation to MAS."""

import pytest
import torch
from torch.nn.utils import parametrize

from mas.adapters import TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, Interchange, LinearStitch
from mas.errors import MasError
from mas.evaluate import evaluate_iia
from mas.experiments.sweep import whole_state_pairs
from mas.tasks import MultiObject
from mas.tasks.pairs import PairSet, build_pairs

TASK = MultiObject(max_count=8)
MAPPING = {"count": "count"}


def whole_pairs(n: int, seed: int) -> PairSet:
    """Pairs whose counterfactual state is all the source's: a full stitch can be exact on them."""
    return whole_state_pairs(build_pairs(TASK, TASK, 3 * n, MAPPING, seed=seed), TASK, MAPPING).subset(slice(0, n))


def test_identity_stitch_of_a_model_into_itself_stays_exact(tiny_grus: list[TaskModelAdapter]) -> None:
    train, test = whole_pairs(256, 21), whole_pairs(256, 22)
    stitch = LinearStitch(((0, 0),), init="identity")
    trainer = AlignmentTrainer(tiny_grus[:1], ["hidden"], AlignConfig(steps=20, lr=1e-3, eval_every=20), stitch)
    before = evaluate_iia(trainer, trainer.new_maps(), {(0, 0): test})[(0, 0)].trial
    fit = trainer.fit({(0, 0): train}, show_progress=False)
    after = evaluate_iia(trainer, fit.rotations, {(0, 0): test})[(0, 0)].trial
    assert before >= 0.99 and after >= 0.99, (before, after)


def test_orthogonal_mas_is_the_stitch_through_both_rotations(tiny_grus: list[TaskModelAdapter]) -> None:
    """MAS with the target's aligned vector dropped and k = width writes h_s·Q_s·Q_tᵀ: a stitch set to
    that product gives the same outputs, and its pseudo-inverse the same reverse direction."""
    train, test = whole_pairs(256, 23), whole_pairs(128, 24)
    mas = AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(k=48, keep_target=False, steps=30, eval_every=30))
    rotations = mas.fit({(0, 1): train}, show_progress=False).rotations
    stitcher = AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(), LinearStitch(((0, 1),)))
    stitches = stitcher.new_maps()
    with torch.no_grad(), parametrize.cached():
        q0, q1 = rotations.matrices()
        stitches.layers["0_1"].weight.copy_((q0 @ q1.T).float())
        for direction in [(0, 1), (1, 0)]:
            index = {direction: slice(None)}
            via_mas = mas.forward([q0, q1], direction[1], {direction: test}, index)[0]
            via_stitch = stitcher.forward(stitches.matrices(), direction[1], {direction: test}, index)[0]
            assert torch.allclose(via_mas, via_stitch, atol=1e-4), direction
    mas_iia = evaluate_iia(mas, rotations, {(0, 1): test})[(0, 1)].trial
    stitch_iia = evaluate_iia(stitcher, stitches, {(0, 1): test})[(0, 1)].trial
    assert mas_iia == stitch_iia


def test_low_rank_stitch_has_its_rank(tiny_grus: list[TaskModelAdapter]) -> None:
    stitch = LinearStitch(((0, 1),), rank=4, bias=True)
    maps = AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(), stitch).new_maps()
    weight, bias = maps.matrices()[(0, 1)]
    assert weight.shape == (48, 48) and bias is not None
    assert int(torch.linalg.matrix_rank(weight.detach())) == 4


def test_rank_above_the_width_is_refused(tiny_grus: list[TaskModelAdapter]) -> None:
    with pytest.raises(MasError, match="rank 49"):
        AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(), LinearStitch(((0, 1),), rank=49))
    with pytest.raises(MasError, match="no stitch serves"):
        trainer = AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(), LinearStitch(((0, 1),)))
        trainer.site_map.encode(trainer.new_maps().matrices(), (0, 0), torch.zeros(1, 1, 48))


def test_interchange_map_refuses_a_subspace_wider_than_a_site(tiny_grus: list[TaskModelAdapter]) -> None:
    with pytest.raises(MasError, match="larger than"):
        AlignmentTrainer(tiny_grus, ["hidden"] * 2, AlignConfig(), Interchange(49))
