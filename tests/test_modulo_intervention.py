"""Modulo after an intervention: a count written in the response phase is taken mod 4 again (hand cases)."""

from __future__ import annotations

import torch

from mas.align.counterfactual_latents import counterfactual_values
from mas.tasks import BOS, EOS, Modulo, MultiObject, Rounding
from mas.tasks.pairs import IGNORE, PairSet, build_pairs

MOD = Modulo()
D0, T, R = (MOD.token(n) for n in ("D0", "T", "R"))
TARGET = [BOS, D0, D0, T, R, R, EOS]  # two demo tokens: 2 mod 4 = 2 R's


def test_response_phase_write_is_taken_mod_4() -> None:
    assert MOD.intervene({"count": 7, "phase": 1}) == {"count": 3, "phase": 1}
    assert MOD.intervene({"count": 4, "phase": 1}) == {"count": 0, "phase": 1}
    assert MOD.intervene({"count": 2, "phase": 1}) == {"count": 2, "phase": 1}


def test_demo_phase_write_and_other_tasks_are_unchanged() -> None:
    assert MOD.intervene({"count": 7, "phase": 0}) == {"count": 7, "phase": 0}
    for task in (MultiObject(), Rounding()):
        assert task.intervene({"count": 7, "phase": 1}) == {"count": 7, "phase": 1}


def test_continuations_after_a_written_count() -> None:
    # 7 written at the trigger (response phase): 7 mod 4 = 3 R's, not 7.
    assert MOD.continue_from(TARGET, 3, MOD.intervene({"count": 7, "phase": 1})) == [BOS, D0, D0, T, R, R, R, EOS]
    # 7 written after the first demo token: 7 + 1 = 8 at the trigger, 8 mod 4 = 0, EOS straight away.
    assert MOD.continue_from(TARGET, 1, MOD.intervene({"count": 7, "phase": 0})) == [BOS, D0, D0, T, EOS]
    # 5 written after the first R (one R already out): 5 mod 4 = 1 more R.
    assert MOD.continue_from(TARGET, 4, MOD.intervene({"count": 5, "phase": 1})) == [BOS, D0, D0, T, R, R, EOS]


def test_pairs_into_modulo_never_ask_for_more_than_three_rs() -> None:
    pairs = build_pairs(MultiObject(), MOD, 300, {"count": "count", "phase": "phase"}, seed=3)
    for n in range(len(pairs)):
        labels = pairs.labels[n].tolist()
        position = int(pairs.target_positions[n, 0])
        answered = [label for label in labels[position:] if label != IGNORE]
        assert answered.count(R) <= 3


def test_counterfactual_values_pass_through_the_rule() -> None:
    source = [BOS, D0, D0, D0, D0, D0, D0, D0, T, *[R] * 7, EOS]  # Multi-Object, 7 demo tokens
    pairs = PairSet(source_tokens=torch.tensor([source]), tokens=torch.tensor([TARGET + [0] * (len(source) - 7)]),
                    labels=torch.full((1, len(source)), IGNORE), source_positions=torch.tensor([[8]]),
                    target_positions=torch.tensor([[3]]))
    values = counterfactual_values(pairs, MultiObject(), MOD, {"count": "count", "phase": "phase"})
    assert values == [[{"count": 3, "phase": 1}]]
