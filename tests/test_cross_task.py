"""Cross-task pairs obey the target's rules, misfits are refused, and a tiny cross-task MAS runs."""

import math
from pathlib import Path

import pytest

from mas.align import AlignConfig
from mas.errors import MasError
from mas.experiments.cross_task import CrossTaskJob, causal_models, direction_pairs, fitted_source, run_cross_task
from mas.models.checkpoint import TaskModelConfig
from mas.models.training import TrainConfig, train_task_model
from mas.tasks import EOS, PAD, CausalModel, MultiObject, make_task
from mas.tasks.pairs import IGNORE, PairSet
from mas.tasks.same_object import RemainingCount

FAMILIES = ["multi_object", "rounding", "modulo", "same_object", "arithmetic"]
JOB = CrossTaskJob(models=[Path("unused")], train_pairs=40, validation_pairs=1, test_pairs=1)


def _rows(pairs: PairSet, i: int) -> tuple[list[int], list[int], list[int], int, int]:
    source = [t for t in pairs.source_tokens[i].tolist() if t != PAD]
    tokens = [t for t in pairs.tokens[i].tolist() if t != PAD]
    labels = pairs.labels[i, : len(tokens)].tolist()
    return source, tokens, labels, int(pairs.source_positions[i, 0]), int(pairs.target_positions[i, 0])


def _check_labels(source: CausalModel, target: CausalModel, s_var: str, t_var: str, pairs: PairSet) -> None:
    """Replay each counterfactual with the target's own step/emit after it receives the source's value."""
    for i in range(len(pairs)):
        s_tokens, tokens, labels, s_pos, t_pos = _rows(pairs, i)
        value = source.trace(s_tokens)[s_pos][s_var]
        lo, hi = target.value_range(t_var)
        assert lo <= value <= hi
        state = target.intervene({**target.trace(tokens[: t_pos + 1])[-1], t_var: value})
        assert tokens[-1] == EOS
        for j in range(t_pos, len(tokens) - 1):
            demanded = target.emit(state)
            if demanded is None:
                assert labels[j] == IGNORE
            else:
                assert labels[j] == demanded == tokens[j + 1]
            state = target.step(state, tokens[j + 1])
        assert all(label == IGNORE for label in labels[:t_pos])


@pytest.mark.parametrize("family", FAMILIES[1:])
def test_pairs_in_both_directions_follow_the_targets_rules(family: str) -> None:
    reference, other = make_task("multi_object"), make_task(family)
    variable = other.variables[0]
    for source, target, s_var, t_var in ((reference, other, "count", variable), (other, reference, variable, "count")):
        pairs, _ = direction_pairs(source, target, [s_var], [t_var], JOB, seed=(0, 0, 1))
        assert len(pairs["train"]) == 40
        _check_labels(fitted_source(source, target, [s_var], [t_var]), target, s_var, t_var, pairs["train"])


@pytest.mark.parametrize("family", ["rounding", "modulo"])
def test_a_response_phase_swap_sets_the_number_of_answers(family: str) -> None:
    """After T the count is the number of R's still to come, whatever the rule did before."""
    source, target = make_task("multi_object"), make_task(family)
    pairs = direction_pairs(source, target, ["count"], ["count"], JOB, seed=(1, 0, 1))[0]["train"]
    checked = 0
    for i in range(len(pairs)):
        s_tokens, tokens, _, s_pos, t_pos = _rows(pairs, i)
        if t_pos >= tokens.index(target.token("T")):
            rest = tokens[t_pos + 1 :]
            count = source.trace(s_tokens)[s_pos]["count"]  # Modulo takes a written count mod 4 again
            assert rest.count(target.token("R")) == (count % 4 if family == "modulo" else count)
            checked += 1
    assert checked > 0


def test_rounding_sources_are_narrowed_to_fit_multi_object() -> None:
    rounding, multi = make_task("rounding"), make_task("multi_object")
    assert rounding.value_range("count") == (0, 21)
    assert fitted_source(rounding, multi, ["count"], ["count"]).value_range("count") == (0, 19)
    pairs, used = direction_pairs(rounding, multi, ["count"], ["count"], JOB, seed=(0, 1, 0))
    assert used == "0..19"
    demo_counts = [_rows(pairs["train"], i)[0].index(rounding.token("T")) - 1 for i in range(40)]
    assert max(demo_counts) <= 19
    assert rounding.max_count == 20  # the caller's task is left alone


@pytest.mark.parametrize(
    ("source", "target", "s_var", "t_var", "message"),
    [
        (make_task("multi_object"), make_task("arithmetic"), "count", "count", "'arithmetic' has no variable 'count'"),
        (make_task("arithmetic"), make_task("rounding"), "total", "count", "'arithmetic' has no variable 'total'"),
        (make_task("arithmetic"), MultiObject(max_count=10), "rem_ops", "count", "cannot carry"),
        (make_task("multi_object"), make_task("multi_object"), "count", "phase", "cannot carry"),
    ],
)
def test_bad_mappings_are_one_line_errors(source: CausalModel, target: CausalModel, s_var: str, t_var: str, message: str) -> None:
    with pytest.raises(MasError, match=message) as err:
        direction_pairs(source, target, [s_var], [t_var], JOB, seed=(0, 0, 1))
    assert "\n" not in str(err.value)


def test_tiny_cross_task_mas_gives_a_finite_matrix(tmp_path: Path) -> None:
    folders = [tmp_path / task for task in ("multi_object", "modulo")]
    for task, folder in zip(("multi_object", "modulo"), folders):
        cfg = TrainConfig(task=task, width=32, max_steps=10, eval_every=10, eval_sequences=20, heldout_counts=[4],
                          options={"max_count": 8})
        train_task_model(cfg, folder, show_progress=False)
    job = CrossTaskJob(models=folders, train_pairs=64, validation_pairs=16, test_pairs=32,
                       align=AlignConfig(k=4, steps=4, batch_size=16, eval_every=2))
    results = run_cross_task(job, show_progress=False)
    assert results["tasks"] == ["multi_object", "modulo"]
    assert set(results["iia"]) == {"0->0", "0->1", "1->0", "1->1"}
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in results["iia"].values())
    assert results["source_range"] == {"0->0": "0..8", "0->1": "0..8", "1->0": "0..8", "1->1": "0..8"}


def test_same_object_pairs_follow_the_remaining_count() -> None:
    """With Same-Object described by its remaining count, labels follow that count, not the rising-falling one."""
    configs = [TaskModelConfig(arch="gru", task=task, vocab_size=1, width=1) for task in ("multi_object", "same_object")]
    job = JOB.model_copy(update={"variables": [["count"], ["remaining"]], "causal_models": [None, "remaining"]})
    reference, same = causal_models(job, configs)
    assert isinstance(same, RemainingCount) and isinstance(reference, MultiObject)
    into, _ = direction_pairs(reference, same, ["count"], ["remaining"], job, seed=(0, 0, 1))
    out_of, _ = direction_pairs(same, reference, ["remaining"], ["count"], job, seed=(0, 1, 0))
    _check_labels(reference, same, "count", "remaining", into["train"])
    _check_labels(same, reference, "remaining", "count", out_of["train"])
    trigger = same.token("T")
    for i in range(len(into["train"])):
        s_tokens, tokens, _, s_pos, t_pos = _rows(into["train"], i)
        # Before T the remaining count is not read yet, so only swaps at or after T change the answer ...
        assert t_pos >= tokens.index(trigger)
        # ... and then the D's still to come are the source's count.
        assert tokens[t_pos + 1:].count(same.token("D")) == reference.trace(s_tokens)[s_pos]["count"]
    for i in range(len(out_of["train"])):
        s_tokens, _, _, s_pos, _ = _rows(out_of["train"], i)
        demo = s_pos < s_tokens.index(trigger)
        # A source read before T gives 0; after it, the D's it has still to answer.
        expected = 0 if demo else s_tokens[s_pos + 1:].count(same.token("D"))
        assert same.trace(s_tokens)[s_pos]["remaining"] == expected
    with pytest.raises(MasError, match="no causal model 'juggling'"):
        causal_models(job.model_copy(update={"causal_models": [None, "juggling"]}), configs)


def test_whole_state_pairs_carry_count_and_phase() -> None:
    """Count and phase both swapped: the source's phase decides whether the target answers (cross-phase pairs)."""
    rounding, multi = make_task("rounding"), make_task("multi_object")
    state = ["count", "phase"]
    assert fitted_source(rounding, multi, state, state).value_range("count") == (0, 19)
    pairs, _ = direction_pairs(multi, rounding, state, state, JOB, seed=(0, 0, 1))
    crossed = 0
    for i in range(len(pairs["train"])):
        s_tokens, tokens, _, s_pos, t_pos = _rows(pairs["train"], i)
        source = multi.trace(s_tokens)[s_pos]
        target_phase = rounding.trace(tokens)[t_pos]["phase"]
        if source["phase"] != target_phase:
            crossed += 1
            if source["phase"] == 1:  # the answer starts at once: exactly the source's count of R's, then EOS
                assert tokens[t_pos + 1:] == [rounding.token("R")] * source["count"] + [EOS]
    assert crossed > 0
