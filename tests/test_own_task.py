"""A task defined in a few lines here: its pairs follow its causal model, and DAS finds its variable."""

from pathlib import Path

import numpy as np
import pytest

from mas.adapters import TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.errors import MasError
from mas.evaluate import evaluate_iia, random_rotation_control
from mas.models import load_checkpoint
from mas.models.training import TrainConfig, train_task_model
from mas.tasks import ReadThenAnswer, make_task, register_task
from mas.tasks.pairs import build_pairs
from mas.tasks.sequences import IGNORE

DIGITS = tuple("012345")


@register_task
class Largest(ReadThenAnswer):
    """Read up to five digits, answer the largest. After an intervention the remaining digits are
    still read, so the answer is the larger of the swapped value and what follows."""

    name = "largest_digit"
    input_tokens = answer_tokens = DIGITS
    max_inputs = 5
    ranges = {"largest": (-1, 5)}

    def start(self) -> dict[str, int]:
        return {"largest": -1}

    def read(self, state: dict[str, int], token: str) -> dict[str, int]:
        return {"largest": max(state["largest"], int(token))}

    def answer(self, state: dict[str, int]) -> list[str]:
        return [str(state["largest"])]


TASK = Largest()


def names(tokens: list[int]) -> list[str]:
    return [TASK.vocab[t] for t in tokens if t != 0]


def test_sequences_and_counterfactuals_follow_the_definition() -> None:
    assert make_task("largest_digit").variables == ("read", "largest", "phase", "answered")
    tokens = TASK.sample(np.random.default_rng(3))
    digits = names(tokens)[1 : names(tokens).index("SEP")]
    assert names(tokens)[-2:] == [max(digits), "EOS"]
    pairs = build_pairs(TASK, TASK, 200, {"largest": "largest"}, seed=1)
    for i in range(len(pairs)):
        source, base = pairs.source_tokens[i].tolist(), pairs.tokens[i].tolist()
        s, t = int(pairs.source_positions[i, 0]), int(pairs.target_positions[i, 0])
        swapped = TASK.trace(source)[s]["largest"]
        rest = names(base)[t + 1 : names(base).index("SEP")]
        expected = max([swapped, *map(int, rest)])
        answer = int(pairs.labels[i].ne(IGNORE).nonzero()[0])
        assert TASK.vocab[int(pairs.labels[i, answer])] == str(expected) == names(base)[answer + 1]


def test_a_taken_name_or_a_bookkeeping_variable_is_refused() -> None:
    with pytest.raises(MasError, match="a task named 'multi_object' exists already"):
        register_task(type("Other", (Largest,), {"name": "multi_object"}))
    with pytest.raises(MasError, match="phase is a variable every ReadThenAnswer task tracks"):
        type("Clash", (Largest,), {"ranges": {"phase": (0, 1)}})


def test_das_recovers_the_variable_of_a_task_defined_in_the_test(tmp_path: Path) -> None:
    config = TrainConfig(task="largest_digit", arch="gru", width=32, max_steps=1500, eval_every=50, lr=3e-3)
    trained = train_task_model(config, tmp_path / "largest", show_progress=False)
    assert trained.heldout_accuracy >= 0.98, trained
    model = TaskModelAdapter(load_checkpoint(tmp_path / "largest")[0], name="largest")
    train, test = (build_pairs(TASK, TASK, n, {"largest": "largest"}, seed=s) for n, s in ((2048, 10), (500, 11)))
    trainer = AlignmentTrainer([model], ["hidden"], AlignConfig(k=4, steps=300, eval_every=100))
    fit = trainer.fit({(0, 0): train}, show_progress=False)
    iia = evaluate_iia(trainer, fit.rotations, {(0, 0): test})[(0, 0)]
    control = random_rotation_control(trainer, {(0, 0): test})[(0, 0)]
    assert iia.trial >= 0.8 and control.trial <= 0.1, (iia, control)  # measured: 0.858 and 0.014
