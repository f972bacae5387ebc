"""The pieces of the paper's protocol, on hand-worked cases: whole-state swaps across phases, the
orthogonal stitch and its transpose, CL targets read from the source's own sequence, the reference
stopping rule, two-level bootstrap intervals and the non-inferiority and closeness verdicts."""

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from mas.align import AlignConfig, AlignmentTrainer
from mas.align.counterfactual_latents import record_latents, source_sequence_latents
from mas.align.stitching import LinearStitch
from mas.errors import MasError
from mas.evaluate import bootstrap_interval
from mas.experiments.alignment import load_task_models
from mas.report.verdict import verdict
from mas.evaluate import Interval
from mas.tasks import MultiObject
from mas.tasks.pairs import IGNORE, build_pairs

TASK = MultiObject()
BOS, EOS, D0, D1, D2, T, R = 1, 2, 3, 4, 5, 6, 7
WHOLE = {"count": "count", "phase": "phase"}
TARGET = [BOS, D0, D1, D2, T, R, R, R, EOS]  # three objects


def test_a_response_state_written_into_the_demo_phase_answers_at_once() -> None:
    state = {"count": 2, "phase": 1}
    cf = TASK.continue_from(TARGET, 2, state)
    assert cf == [BOS, D0, D1, R, R, EOS]
    mask = TASK.intervened_task_mask(cf, 2, state)
    assert mask[2:] == [True, True, True, False]  # R, R, EOS dictated from the swapped state on


def test_a_demo_state_written_after_the_trigger_counts_up_to_the_targets_objects_then_answers() -> None:
    rng = np.random.default_rng(0)
    state = {"count": 1, "phase": 0}
    cf = TASK.continue_from(TARGET, 5, state, rng)
    assert cf[:6] == TARGET[:6] and cf[6] in (D0, D1, D2) and cf[7] in (D0, D1, D2)
    assert cf[8:] == [T, R, R, R, EOS]
    assert TASK.intervened_task_mask(cf, 5, state)[5:] == [False, False, False, True, True, True, True, False]
    # A count already at the target's three objects or past it: the trigger at once.
    assert TASK.continue_from(TARGET, 5, {"count": 4, "phase": 0}, rng)[6:] == [T, R, R, R, R, EOS]


def test_whole_state_pairs_label_what_the_swapped_state_dictates() -> None:
    pairs = build_pairs(TASK, TASK, 300, WHOLE, seed=3)
    crossed = 0
    for n in range(len(pairs)):
        s_tokens = [t for t in pairs.source_tokens[n].tolist() if t]
        sp, tp = pairs.source_positions[n, 0].item(), pairs.target_positions[n, 0].item()
        source_state = TASK.trace(s_tokens)[sp]
        cf = [t for t in pairs.tokens[n].tolist() if t]
        crossed += TASK.trace(cf)[tp]["phase"] != source_state["phase"]
        expected = TASK.continue_from(cf, tp, source_state, np.random.default_rng(0))
        labels = pairs.labels[n].tolist()
        # Every labelled token is the one the source's whole state demands (inputs are never labelled).
        for i in range(tp, len(cf) - 1):
            if labels[i] != IGNORE:
                assert labels[i] == expected[i + 1] == cf[i + 1]
        assert labels[len(cf) - 2] == EOS  # the answer always ends with a labelled EOS
    assert crossed > 50  # cross-phase pairs are kept, not dropped


def test_the_orthogonal_stitch_is_a_partial_isometry_reversed_by_its_transpose() -> None:
    stitch = LinearStitch(((0, 1),), rank=5, form="orthogonal")
    maps = stitch.build([12, 9], seed=0)
    with parametrize.cached():
        mats = maps.matrices()
    forward, bias = mats[(0, 1)]
    backward, _ = mats[(1, 0)]
    assert bias is None and forward.shape == (12, 9)
    torch.testing.assert_close(backward, forward.T)
    assert torch.linalg.matrix_rank(forward).item() == 5
    h = torch.randn(7, 12, dtype=torch.float64)
    kept = h @ forward @ forward.T  # the projection onto the kept subspace
    torch.testing.assert_close(kept @ forward @ backward, kept)  # forward then transpose gives h back there
    torch.testing.assert_close(stitch.encode(mats, (1, 0), stitch.encode(mats, (0, 1), kept)), kept)


def test_the_affine_stitch_keeps_its_bias_and_pseudo_inverse() -> None:
    maps = LinearStitch(((0, 1),), rank=None, bias=True).build([6, 6], seed=0)
    maps.layers["0_1"].bias.data.fill_(0.5)
    mats = maps.matrices()
    weight, bias = mats[(0, 1)]
    h = torch.randn(4, 6)
    back = LinearStitch(((0, 1),), bias=True).encode(mats, (1, 0), h @ weight + bias)
    torch.testing.assert_close(back, h, atol=1e-4, rtol=1e-4)


def test_cl_targets_from_the_source_sequence_are_the_inaccessible_models_states_there(tiny_gru_folders) -> None:
    adapters, _ = load_task_models(tiny_gru_folders)
    task = MultiObject(max_count=8)
    pairs = build_pairs(task, task, 40, WHOLE, seed=1)
    latents = source_sequence_latents(adapters[1], "hidden", pairs, task, task, WHOLE)
    states = adapters[1].read("hidden", pairs.source_tokens)
    for n in range(len(pairs)):
        position = pairs.source_positions[n, 0].item()
        torch.testing.assert_close(latents.latents[n, 0], states[n, position])
    assert len(latents) == len(pairs) and latents.dropped == 0
    with pytest.raises(MasError, match="whole causal state"):
        source_sequence_latents(adapters[1], "hidden", pairs, task, task, {"count": "count"})


def test_matched_latents_skip_states_after_bos_eos_and_the_trigger(tiny_gru_folders) -> None:
    adapters, _ = load_task_models(tiny_gru_folders)
    task = MultiObject(max_count=8)
    bank = record_latents(adapters[0], "hidden", task, n_sequences=30, seed=0)
    assert all(len(key) == 3 for key in bank.index)  # count, phase and the object count
    # Sequences are BOS, N objects, T, N R's, EOS: only the 2N states after an object or an R are kept
    # (no key reaches the 256 cap with 30 sequences), so the states recorded are 2 × the objects seen.
    rng = np.random.default_rng([0, 31])
    objects = sum(task.size(task.sample(rng)) for _ in range(30))
    assert len(bank.states) == sum(len(rows) for rows in bank.index.values()) == 2 * objects
    assert not any(key[:2] == (0, 0) for key in bank.index)  # after BOS only
    assert not any(key[1] == 1 and key[0] == key[2] for key in bank.index)  # after T only


def test_the_reference_stopping_rule_stops_on_a_flat_validation_loss(tiny_gru_folders) -> None:
    adapters, _ = load_task_models(tiny_gru_folders)
    task = MultiObject(max_count=8)
    train, val = (build_pairs(task, task, n, WHOLE, seed=s) for n, s in ((64, 0), (32, 1)))
    # lr 1e-12: nothing moves, so the validation loss never improves by min_delta.
    config = AlignConfig(k=2, steps=500, lr=1e-12, lr_schedule="constant", eval_every=5, patience=3,
                         stopping="reference", batch_size=8)
    fit = AlignmentTrainer(adapters, ["hidden", "hidden"], config).fit({(0, 1): train}, {(0, 1): val},
                                                                        show_progress=False)
    assert fit.stop_reason == "plateau" and fit.steps == 20  # the first evaluation sets the best, three more fail
    assert all("train_trial" in r and "val_loss" in r for r in fit.history)
    ceiling = AlignConfig(**{**config.model_dump(), "steps": 10, "patience": 50})
    fit = AlignmentTrainer(adapters, ["hidden", "hidden"], ceiling).fit({(0, 1): train}, {(0, 1): val},
                                                                         show_progress=False)
    assert fit.stop_reason == "ceiling" and fit.steps == 10


def test_a_two_level_bootstrap_resamples_pairs_first() -> None:
    # Two pairs whose runs agree within a pair but not across: the interval spans both pairs' means.
    values, groups = [0.9, 0.9, 0.9, 0.5, 0.5, 0.5], ["a"] * 3 + ["b"] * 3
    grouped = bootstrap_interval(values, groups=groups)
    flat = bootstrap_interval(values)
    assert grouped.mean == pytest.approx(0.7) and grouped.low == pytest.approx(0.5) and grouped.high == pytest.approx(0.9)
    assert flat.high - flat.low < grouped.high - grouped.low
    with pytest.raises(MasError):
        bootstrap_interval(values, groups=["a"])


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 0.0, "holds"),  # DAS equal to MAS: "DAS ≥ MAS" holds
        (-0.015, 0.01, "holds"),  # MAS above DAS by less than the margin
        (-0.05, 0.03, "not established"),  # could be more than the margin above
        (-0.09, -0.03, "does not hold"),  # MAS above DAS by more than the margin, surely
        (0.1, 0.3, "holds"),  # DAS clearly above
    ],
)
def test_non_inferiority_on_hand_cases(low: float, high: float, expected: str) -> None:
    assert verdict(Interval((low + high) / 2, low, high, 3), 0.02, "at_least") == expected


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-0.01, 0.04, "holds"),
        (0.02, 0.07, "not established"),
        (0.06, 0.12, "does not hold"),
        (-0.12, -0.06, "does not hold"),
    ],
)
def test_closeness_on_hand_cases(low: float, high: float, expected: str) -> None:
    assert verdict(Interval((low + high) / 2, low, high, 3), 0.05, "within") == expected
    assert verdict(Interval((low + high) / 2, low, high, 1), 0.05, "within") == "not established"  # one run
