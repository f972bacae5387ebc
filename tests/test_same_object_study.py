"""Candidate causal models of Same-Object sequences, and the DAS study that compares them."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mas.cli import app
from mas.models.training import TrainConfig, train_task_model
from mas.tasks.same_object import CANDIDATES, RemainingCount, SameObject, SeparateCounts

MODELS = (SameObject(), SeparateCounts(), RemainingCount())


def encode(text: str) -> list[int]:
    return [SameObject().token(name) for name in text.split()]


def test_candidates_accept_exactly_the_same_sequences() -> None:
    rng = np.random.default_rng(0)
    for tokens in (SameObject(void_prob=0.3).sample(rng) for _ in range(200)):
        assert all(m.targets_match(tokens) for m in MODELS)
        assert [m.task_mask(tokens) for m in MODELS[1:]] == [MODELS[0].task_mask(tokens)] * 2
    wrong = encode("BOS D D T D EOS")
    assert not any(m.targets_match(wrong) for m in MODELS)


# BOS D D D T D (position 5: one D answered, two to come), then the intervention.
SEQUENCE = encode("BOS D D D T D D D EOS")


@pytest.mark.parametrize(("model", "state", "answered"), [
    (SameObject(), {"count": 4, "phase": 1}, 5),  # 4 still to come
    (SeparateCounts(), {"demo": 5, "response": 1, "phase": 1}, 5),  # answer until 5 responses
    (SeparateCounts(), {"demo": 3, "response": 0, "phase": 1}, 4),  # one more than asked
    (RemainingCount(), {"demo": 9, "remaining": 2, "phase": 1}, 3),  # demo no longer matters
    (RemainingCount(), {"demo": 3, "remaining": 0, "phase": 1}, 1),  # stop at once
])
def test_interventions_in_the_response_phase(model: SameObject, state: dict, answered: int) -> None:
    cf = model.continue_from(SEQUENCE, 5, state)
    assert cf == encode("BOS D D D T " + "D " * answered + "EOS")


def test_remaining_is_formed_at_the_trigger() -> None:
    # Demo count 2 overwritten by 5 before T: five D's answer (remaining takes the demo count at T).
    cf = RemainingCount().continue_from(SEQUENCE, 2, {"demo": 5, "remaining": 0, "phase": 0})
    assert cf == encode("BOS D D D T " + "D " * 6 + "EOS")  # the third demo D is replayed: 6


def test_study_writes_a_row_per_candidate_and_k_and_picks_on_validation(tmp_path: Path) -> None:
    folder = tmp_path / "same_object"
    train_task_model(TrainConfig(task="same_object", width=16, max_steps=5, eval_every=5, eval_sequences=8,
                                 options={"max_count": 6}), folder, show_progress=False)
    out = tmp_path / "study"
    args = ["same-object-study", str(folder), "--candidates", "rise_fall.count,remaining.remaining", "--ks", "1,2",
            "--steps", "2", "--batch-size", "8", "--train-pairs", "16", "--validation-pairs", "8", "--test-pairs", "8",
            "--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(r["candidate"], r["k"]) for r in summary["rows"]] == [
        ("rise_fall.count", 1), ("rise_fall.count", 2), ("remaining.remaining", 1), ("remaining.remaining", 2)]
    assert summary["chosen"]["validation_iia"] == max(r["validation_iia"] for r in summary["rows"])
    assert (out / "table.csv").read_text().startswith("candidate,k,validation_iia,test_iia")
    bad = CliRunner().invoke(app, [*args[:2], "--candidates", "nonsense", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "unknown candidate" in bad.output and not (tmp_path / "bad").exists()
    assert set(CANDIDATES) >= {"rise_fall.count", "separate.demo", "remaining.remaining"}
