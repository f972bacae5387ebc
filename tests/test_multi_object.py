"""Multi-Object causal model and pair builders on hand-checked sequences."""

import numpy as np
import pytest
import torch

from mas.errors import MasError
from mas.tasks import BOS, EOS, MultiObject, make_task
from mas.tasks.base import pick
from mas.tasks.pairs import IGNORE, build_pairs
from mas.tasks.sequences import sample_sequences

TASK = MultiObject()


def ids(*names: str) -> list[int]:
    return [TASK.token(n) for n in names]


def test_trace_counts_up_then_down() -> None:
    seq = ids("BOS", "D0", "D2", "D1", "T", "R", "R", "R", "EOS")
    states = TASK.trace(seq)
    assert [s["count"] for s in states] == [0, 1, 2, 3, 3, 2, 1, 0, 0]
    assert [s["phase"] for s in states] == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert TASK.task_mask(seq) == [False, False, False, False, True, True, True, True, False]
    assert TASK.targets_match(seq)


def test_void_token_leaves_count_alone() -> None:
    seq = ids("BOS", "D0", "U", "D1", "U", "T", "R", "R", "EOS")
    assert [s["count"] for s in TASK.trace(seq)] == [0, 1, 1, 2, 2, 2, 1, 0, 0]
    assert TASK.targets_match(seq)


def test_wrong_response_is_detected() -> None:
    assert not TASK.targets_match(ids("BOS", "D0", "D0", "T", "R", "EOS"))


def test_continuation_in_demo_phase_replays_remaining_inputs() -> None:
    seq = ids("BOS", "D0", "D1", "D2", "T", "R", "R", "R", "EOS")
    # After D1 (count 2) the count becomes 5; one more demo token follows, so 6 R's.
    cf = TASK.continue_from(seq, 2, {"count": 5, "phase": 0})
    assert cf == ids("BOS", "D0", "D1", "D2", "T", *["R"] * 6, "EOS")


def test_continuation_in_response_phase() -> None:
    seq = ids("BOS", "D0", "D1", "D2", "T", "R", "R", "R", "EOS")
    assert TASK.continue_from(seq, 5, {"count": 1, "phase": 1}) == ids("BOS", "D0", "D1", "D2", "T", "R", "R", "EOS")
    assert TASK.continue_from(seq, 5, {"count": 0, "phase": 1}) == ids("BOS", "D0", "D1", "D2", "T", "R", "EOS")


def test_continuation_with_own_state_reproduces_sequence() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        seq = MultiObject(void_prob=0.2).sample(rng)
        states = TASK.trace(seq)
        for t in range(1, len(seq) - 1):
            assert TASK.continue_from(seq, t, states[t]) == seq


def test_continuation_out_of_range_is_rejected() -> None:
    seq = ids("BOS", "D0", "D1", "T", "R", "R", "EOS")
    assert TASK.continue_from(seq, 1, {"count": 20, "phase": 0}) is None


def test_sampler_respects_counts() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        seq = TASK.sample(rng, counts=[4, 9])
        assert seq.count(TASK.token("R")) in (4, 9)
        assert seq[0] == BOS and seq[-1] == EOS


def test_sequence_batch_labels_task_positions() -> None:
    batch = sample_sequences(TASK, np.random.default_rng(0), 8)
    for row, labels in zip(batch.tokens.tolist(), batch.labels.tolist()):
        n = row.count(TASK.token("R"))
        assert sum(label != IGNORE for label in labels) == n + 1  # n R's and the EOS


@pytest.mark.parametrize("mode", ["single", "stepwise"])
def test_pairs_labels_follow_the_source_count(mode: str) -> None:
    pairs = build_pairs(TASK, TASK, 64, {"count": "count"}, mode=mode, seed=3)
    for b in range(len(pairs)):
        src = [x for x in pairs.source_tokens[b].tolist()]
        s_pos = pairs.source_positions[b][pairs.source_positions[b] >= 0]
        t_pos = pairs.target_positions[b][pairs.target_positions[b] >= 0]
        t_last = int(t_pos[-1])
        source_count = TASK.trace(src[: int(s_pos[-1]) + 1])[-1]["count"]
        tokens = [x for x in pairs.tokens[b].tolist() if x != 0]
        states = TASK.trace(tokens)
        # The counterfactual continues as if the count after t_last were the source's.
        expected = TASK.continue_from(tokens, t_last, {**states[t_last], "count": source_count})
        assert tokens == expected
        labelled = (pairs.labels[b] != IGNORE).nonzero().flatten()
        assert int(labelled.min()) >= t_last
        if mode == "stepwise":
            assert torch.equal(s_pos, t_pos) and torch.equal(t_pos, torch.arange(t_last + 1))


def test_pairs_always_change_behaviour() -> None:
    pairs = build_pairs(TASK, TASK, 64, {"count": "count"}, seed=5)
    for b in range(len(pairs)):
        tokens = [x for x in pairs.tokens[b].tolist() if x != 0]
        t_last = int(pairs.target_positions[b].max())
        # Without the swap the target would have continued from its own state: a different sequence.
        # (the prefix up to t_last is the target's own, so tracing it gives the unswapped state).
        assert TASK.continue_from(tokens, t_last, TASK.trace(tokens)[t_last]) != tokens


def test_bad_task_and_mapping() -> None:
    with pytest.raises(MasError, match="unknown task"):
        make_task("juggling")
    with pytest.raises(MasError, match="no variable"):
        build_pairs(TASK, TASK, 4, {"colour": "count"})
    with pytest.raises(MasError, match="at least one pair"):
        build_pairs(TASK, TASK, 0, {"count": "count"})


def test_pick_draws_what_rng_choice_draws() -> None:
    """Pair sets stay the same as before sampling stopped calling rng.choice: same values, same stream."""
    for seed in range(20):
        ours, numpy = np.random.default_rng(seed), np.random.default_rng(seed)
        for options in ([7], [3, 4, 5], list(range(1, 21)), [2, 9, 4, 4]):
            assert [pick(ours, options) for _ in range(30)] == [int(numpy.choice(options)) for _ in range(30)]
        assert ours.random() == numpy.random()
