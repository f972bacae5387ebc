"""Same-Object, Rounding, Modulo, Arithmetic: worked sequences, replay properties, cross-task pairs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mas.errors import MasError
from mas.tasks import EOS, TASKS, Arithmetic, CausalModel, Modulo, MultiObject, Rounding, SameObject, make_task
from mas.tasks.pairs import IGNORE, PairSet, build_pairs

FAMILIES = ("same_object", "rounding", "modulo", "arithmetic")
HELD_OUT = (4, 9, 14, 17)
# Where Multi-Object's count lands in each family.
TARGET_VARIABLE = {
    "same_object": "count",
    "rounding": "count",
    "modulo": "count",
    "arithmetic": "rem_ops",
}


def encode(task: CausalModel, text: str) -> list[int]:
    return [task.token(name) for name in text.split()]


def counting(demo: str, n: int, answer: str, m: int) -> str:
    return " ".join(["BOS"] + [demo] * n + ["T"] + [answer] * m + ["EOS"])


def size(task: CausalModel, tokens: list[int]) -> int:
    """The size variable a sequence was sampled with: r for Arithmetic, the demo count otherwise."""
    states = task.trace(tokens)
    if isinstance(task, Arithmetic):
        return states[1]["rem_ops"]
    return max(s["count"] for s in states if s["phase"] == 0)


# ---- registry and vocabularies -------------------------------------------------------------------
def test_registry_builds_every_family() -> None:
    for name in FAMILIES:
        task = make_task(name)
        assert task.name == name and TASKS[name] is type(task)
        assert task.vocab[:3] == ("PAD", "BOS", "EOS")
        assert len(set(task.vocab)) == task.vocab_size


def test_value_ranges() -> None:
    assert SameObject().value_range("count") == (0, 20)
    assert Rounding().value_range("count") == (0, 21)  # 20 demo tokens round up to 21 R's
    assert Rounding(max_count=19).value_range("count") == (0, 19)
    assert Modulo().value_range("count") == (0, 20)
    task = Arithmetic()
    assert [task.value_range(v) for v in task.variables] == [(0, 20), (0, 20), (0, 1), (0, 20)]


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_honours_requested_counts(name: str) -> None:
    task = make_task(name)
    rng = np.random.default_rng(0)
    for count in range(1, 21):
        assert size(task, task.sample(rng, [count])) == count
    assert {size(task, task.sample(rng, HELD_OUT)) for _ in range(100)} == set(HELD_OUT)


# ---- Same-Object ---------------------------------------------------------------------------------
def test_same_object_counts_d_up_then_down() -> None:
    task = SameObject()
    tokens = encode(task, counting("D", 3, "D", 3))
    assert task.targets_match(tokens)
    assert [s["count"] for s in task.trace(tokens)] == [0, 1, 2, 3, 3, 2, 1, 0, 0]
    assert task.task_mask(tokens) == [False] * 4 + [True] * 4 + [False]
    assert not task.targets_match(encode(task, counting("D", 3, "D", 2)))
    assert not task.targets_match(encode(task, counting("D", 3, "D", 4)))


def test_same_object_voids_do_not_count() -> None:
    task = SameObject(void_prob=0.5)
    tokens = encode(task, "BOS D U D U T D D EOS")
    assert task.targets_match(tokens)
    assert task.trace(tokens)[5]["count"] == 2


# ---- Rounding and Modulo -------------------------------------------------------------------------
# (demo count, number of R's answered), around every boundary of the rule.
ROUNDED = [(1, 0), (2, 3), (3, 3), (4, 3), (5, 6), (6, 6), (7, 6), (8, 9), (10, 9), (19, 18), (20, 21)]
MODULO = [(1, 1), (3, 3), (4, 0), (5, 1), (7, 3), (8, 0), (16, 0), (19, 3), (20, 0)]
ANSWERS = [(Rounding(), n, m) for n, m in ROUNDED] + [(Modulo(), n, m) for n, m in MODULO]


@pytest.mark.parametrize(("task", "n", "m"), ANSWERS)
def test_answer_after_trigger(task: CausalModel, n: int, m: int) -> None:
    tokens = encode(task, counting("D1", n, "R", m))
    assert task.targets_match(tokens)
    assert task.trace(tokens)[n + 1] == {"count": m, "phase": 1}
    assert not task.targets_match(encode(task, counting("D1", n, "R", m + 1)))
    if m > 0:
        assert not task.targets_match(encode(task, counting("D1", n, "R", m - 1)))


def test_empty_answer_is_eos_right_after_trigger() -> None:
    task = Rounding()
    tokens = encode(task, "BOS D2 T EOS")
    assert task.targets_match(tokens)
    assert task.task_mask(tokens) == [False, False, True, False]
    sampled = task.sample(np.random.default_rng(0), [1])
    assert [task.vocab[t] for t in sampled[-2:]] == ["T", "EOS"]


def test_intervention_before_trigger_passes_through_the_rule() -> None:
    task = Rounding()
    tokens = encode(task, counting("D0", 4, "R", 3))
    # Count 4 overwritten by 5 before T: 5 rounds to 6 R's.
    cf = task.continue_from(tokens, 4, {"count": 5, "phase": 0})
    assert cf == encode(task, counting("D0", 4, "R", 6))
    # After T the count is the number of R's still to come: no rounding.
    cf = task.continue_from(tokens, 5, {"count": 5, "phase": 1})
    assert cf == encode(task, counting("D0", 4, "R", 5))


# ---- Arithmetic ----------------------------------------------------------------------------------
WORKED = "BOS r2 5 + 3 = 8 , - 4 = 4 EOS"


def test_arithmetic_worked_sequence() -> None:
    task = Arithmetic()
    tokens = encode(task, WORKED)
    assert task.targets_match(tokens)
    states = task.trace(tokens)
    assert [s["value"] for s in states] == [0, 0, 5, 5, 5, 8, 8, 8, 8, 8, 4, 4, 4]
    assert [s["rem_ops"] for s in states] == [0, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0, 0]
    assert [s["op"] for s in states][3:9] == [0, 0, 0, 0, 0, 1]
    assert states[9]["operand"] == 4
    # The `=`, the result and the `,`/EOS are dictated; op and operand are inputs.
    assert [i for i, m in enumerate(task.task_mask(tokens)) if m] == [4, 5, 6, 9, 10, 11]


@pytest.mark.parametrize(
    "text",
    [
        "BOS r2 5 + 3 = 9 , - 4 = 5 EOS",  # wrong sum
        "BOS r2 5 + 3 = 8 EOS",  # stops one group early
        "BOS r2 5 + 3 = 8 , - 4 = 4 ,",  # no EOS after the last group
        "BOS r1 5 + 3 = 8 , - 4 = 4 EOS",  # one group too many
    ],
)
def test_arithmetic_rejects_wrong_targets(text: str) -> None:
    task = Arithmetic()
    assert not task.targets_match(encode(task, text))


def test_arithmetic_boundaries() -> None:
    task = Arithmetic()
    assert task.targets_match(encode(task, "BOS r3 0 - 0 = 0 , + 20 = 20 , + 0 = 20 EOS"))
    for seed in range(200):
        tokens = task.sample(np.random.default_rng(seed), [20])
        assert all(task.in_range(s) for s in task.trace(tokens))


def test_arithmetic_malformed_input_is_a_mas_error() -> None:
    task = Arithmetic()
    with pytest.raises(MasError, match="rem-ops"):
        task.trace(encode(task, "BOS 5"))
    with pytest.raises(MasError, match=r"\+ or -"):
        task.trace(encode(task, "BOS r1 5 3"))


def test_arithmetic_more_ops_draws_fresh_valid_inputs() -> None:
    task = Arithmetic()
    tokens = encode(task, WORKED)
    state = {**task.trace(tokens)[6], "rem_ops": 6}
    cf = task.continue_from(tokens, 6, state, np.random.default_rng(0))
    assert cf is not None and cf[:13] == encode(task, "BOS r2 5 + 3 = 8 , - 4 = 4 ,")
    assert task.vocab[cf[-2]] != "," and cf.count(task.token("=")) == 7
    # Walking the swapped state over the continuation: every value stays in range, every target fits.
    walked = state
    for i in range(7, len(cf)):
        assert task.in_range(walked)
        demanded = task.emit(walked)
        assert demanded in (None, cf[i])
        walked = task.step(walked, cf[i])
    assert walked["rem_ops"] == 0
    with pytest.raises(MasError, match="ran out of inputs"):
        task.continue_from(tokens, 6, state)


def test_arithmetic_fewer_ops_ends_early() -> None:
    task = Arithmetic()
    tokens = encode(task, WORKED)
    cf = task.continue_from(tokens, 4, {**task.trace(tokens)[4], "rem_ops": 1})
    assert cf == encode(task, "BOS r2 5 + 3 = 8 EOS")


def test_arithmetic_rejects_out_of_range_continuations() -> None:
    task = Arithmetic()
    tokens = encode(task, WORKED)
    # A larger start value: the original "+ 3" would still fit, but 18 + 3 does not.
    assert task.continue_from(tokens, 2, {**task.trace(tokens)[2], "value": 18}) is None
    # A smaller value: "- 4" after "+ 3" would go below zero.
    assert task.continue_from(tokens, 6, {**task.trace(tokens)[6], "value": 0}) is None
    # No groups left inside a group (or before one starts): completing it would make rem_ops -1.
    assert task.continue_from(tokens, 3, {**task.trace(tokens)[3], "rem_ops": 0}) is None
    assert task.continue_from(tokens, 7, {**task.trace(tokens)[7], "rem_ops": 0}) is None
    # After a result, zero groups left simply ends the sequence.
    ended = task.continue_from(tokens, 6, {**task.trace(tokens)[6], "rem_ops": 0})
    assert ended == encode(task, "BOS r2 5 + 3 = 8 EOS")


def test_arithmetic_operand_and_op_interventions() -> None:
    task = Arithmetic()
    tokens = encode(task, WORKED)
    assert task.continue_from(tokens, 4, {**task.trace(tokens)[4], "operand": 7}) == encode(
        task, "BOS r2 5 + 3 = 12 , - 4 = 8 EOS"  # the prefix keeps the original operand token
    )
    # 5 - 3 = 2, then the original "- 4" would leave the range.
    assert task.continue_from(tokens, 4, {**task.trace(tokens)[4], "op": 1}) is None
    assert task.continue_from(tokens, 9, {**task.trace(tokens)[9], "op": 0}) == encode(
        task, "BOS r2 5 + 3 = 8 , - 4 = 12 EOS"
    )


# ---- properties over sampled sequences -----------------------------------------------------------
def family_task(name: str, void: bool) -> CausalModel:
    return make_task(name, void_prob=0.3) if void and name != "arithmetic" else make_task(name)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FAMILIES), st.integers(0, 2**32 - 1), st.booleans())
def test_sampled_sequences_replay(name: str, seed: int, void: bool) -> None:
    task = family_task(name, void)
    rng = np.random.default_rng(seed)
    tokens = task.sample(rng)
    assert task.targets_match(tokens)
    states = task.trace(tokens)
    assert all(task.in_range(s) for s in states[:-1])
    # Writing back the value already there changes nothing, from any position.
    for position in range(len(tokens) - 1):
        assert task.continue_from(tokens, position, states[position]) == tokens


# ---- cross-task pairs ----------------------------------------------------------------------------
def check_labels(
    source: CausalModel, target: CausalModel, pairs: PairSet, s_var: str, t_var: str
) -> None:
    """Every label is what the target demands once the mapped variable holds the source's value."""
    for row in range(len(pairs)):
        src = pairs.source_tokens[row].tolist()
        src = src[: src.index(EOS) + 1]
        cf = pairs.tokens[row].tolist()
        cf = cf[: cf.index(EOS) + 1]
        labels = pairs.labels[row].tolist()
        t_s = max(pairs.source_positions[row].tolist())
        t_t = max(pairs.target_positions[row].tolist())
        assert source.intervenable(src, t_s) and target.intervenable(cf, t_t)
        state = target.intervene({**target.trace(cf)[t_t], t_var: source.trace(src)[t_s][s_var]})
        assert all(label == IGNORE for label in labels[:t_t])
        for i in range(t_t, len(cf) - 1):
            assert target.in_range(state)
            demanded = target.emit(state)
            assert labels[i] == (IGNORE if demanded is None else demanded)
            assert demanded in (None, cf[i + 1])
            state = target.step(state, cf[i + 1])
        assert all(label == IGNORE for label in labels[len(cf) - 1 :])


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("mode", ["single", "stepwise"])
def test_cross_task_pairs_from_multi_object(name: str, mode: str) -> None:
    source, target = MultiObject(), make_task(name)
    t_var = TARGET_VARIABLE[name]
    pairs = build_pairs(source, target, 40, {"count": t_var}, mode=mode, seed=3)
    assert len(pairs) == 40
    if mode == "stepwise":
        for row in range(len(pairs)):
            used = pairs.target_positions[row][pairs.target_positions[row] >= 0]
            assert used.tolist() == list(range(len(used)))
            assert pairs.source_positions[row].tolist() == pairs.target_positions[row].tolist()
    check_labels(source, target, pairs, "count", t_var)


@pytest.mark.parametrize("name", FAMILIES)
def test_same_task_pairs(name: str) -> None:
    task = make_task(name)
    variable = TARGET_VARIABLE[name]
    pairs = build_pairs(task, task, 30, {variable: variable}, seed=5, counts=list(HELD_OUT))
    check_labels(task, task, pairs, variable, variable)


def test_cross_task_mapping_errors() -> None:
    with pytest.raises(MasError, match="no variable 'count'"):
        build_pairs(MultiObject(), Arithmetic(), 4, {"count": "count"})
    with pytest.raises(MasError, match="no variable 'rem_ops'"):
        build_pairs(MultiObject(), Arithmetic(), 4, {"rem_ops": "rem_ops"})
    with pytest.raises(MasError, match="cannot carry"):
        build_pairs(MultiObject(max_count=25), Modulo(), 4, {"count": "count"})
    with pytest.raises(MasError, match="cannot carry"):
        build_pairs(MultiObject(max_count=21), Arithmetic(), 4, {"count": "rem_ops"})
    # Rounding answers up to 21, which Multi-Object's count (0..20) cannot carry.
    with pytest.raises(MasError, match="cannot carry"):
        build_pairs(Rounding(), MultiObject(), 4, {"count": "count"})
