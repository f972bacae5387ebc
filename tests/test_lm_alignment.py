"""Stepwise MAS between two tiny random Llamas, through the experiment and the `mas` commands."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mas.align import AlignConfig
from mas.cli import app
from mas.experiments.lm_alignment import LMAlignmentJob, run_lm_alignment
from tiny_lm import WORDS, tiny_llama, word_tokenizer

runner = CliRunner()


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory) -> list[Path]:
    """Two tiny Llamas (width 32) saved with a word-level tokenizer, as a user's local models."""
    root = tmp_path_factory.mktemp("lms")
    tokenizer = word_tokenizer(WORDS)
    folders = []
    for seed in (0, 1):
        folder = root / f"tiny{seed}"
        tiny_llama(len(WORDS), seed).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "prompts.txt"
    path.write_text("\n".join(" ".join(f"w{i}" for i in rng.integers(0, 37, size=30)) for _ in range(40)))
    return path


def test_stepwise_mas_end_to_end(model_folders, prompts, tmp_path):
    job = LMAlignmentJob(
        models=[str(f) for f in model_folders], names=["a", "b"], site="layers.0", data=str(prompts), length=24,
        train_pairs=16, test_pairs=8, align=AlignConfig(k=8, steps=4, lr=1e-2, batch_size=4, eval_every=2),
    )
    results = run_lm_alignment(job, tmp_path / "run", show_progress=False)
    for key in ("token_matrix", "trial_matrix"):
        matrix = np.array(results[key], dtype=float)
        assert matrix.shape == (2, 2) and np.isfinite(matrix).all() and ((0 <= matrix) & (matrix <= 1)).all()
    assert results["steps"] == 4 and len(results["history"]) == 2
    assert sorted(results["token_iia"]) == ["0->0", "0->1", "1->0", "1->1"]
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"results.json", "iia.csv", "iia.png", "rotations.safetensors", "mas-run.json"}
    assert len((tmp_path / "run" / "iia.csv").read_text().splitlines()) == 5


@pytest.mark.parametrize("site", ["layers.1", "layers.0.mlp"])
def test_lm_align_command(model_folders, prompts, tmp_path, site):
    args = ["lm-align", *map(str, model_folders), "--site", site, "--k", "4", "--steps", "2", "--length", "24",
            "--pairs", "8", "--test-pairs", "4", "--batch-size", "2", "--data", str(prompts),
            "--out", str(tmp_path / "run"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert len(summary["token_iia"]) == 4 and (tmp_path / "run" / "iia.png").is_file()
    # The control is reported per direction, so a cross-model control is never averaged with self swaps.
    assert sorted(summary["control_token_iia"]) == sorted(summary["token_iia"])
    assert "untrained-rotation control" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["lm-align", "no-such-org/no-such-model"], "no-such-org/no-such-model"),
        (["lm-align", "{0}", "--site", "layers.7"], "beyond the 2 layers"),
        (["lm-align", "{0}", "--site", "layers.7.attn"], "beyond the 2 layers"),
        (["lm-align", "{0}", "--site", "layers.0.norm"], "unknown site"),
        (["lm-align", "{0}", "--site", "embed", "--length", "80"], "exceed the 64-token context"),
        (["lm-align", "{0}", "--site", "embed", "--k", "33"], "larger than the width"),
        (["lm-align", "{0}", "--site", "embed", "--data", "{empty}"], "no rows"),
        (["finetune", "no-such-org/no-such-model", "--data", "insults", "--out", "{out}"], "no-such-org/no-such-model"),
        (["finetune", "{0}", "--data", "{empty}", "--out", "{out}"], "no rows"),
        (["finetune", "{0}", "--data", "{prompts}", "--label", "1", "--out", "{out}"], "no labels"),
        (["finetune", "{0}", "--data", "insults", "--label", "7", "--out", "{out}"], "no non-empty texts"),
        (["finetune", "{0}", "--data", "insults", "--length", "65", "--out", "{out}"], "exceed the 64-token context"),
        (["finetune", "{0}", "--data", "insults", "--steps", "0", "--out", "{out}"], "steps must be at least 1"),
    ],
)
def test_bad_input_is_one_line(model_folders, prompts, tmp_path, args, message):
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    filled = [a.format(model_folders[0], empty=empty, prompts=prompts, out=tmp_path / "out") for a in args]
    result = runner.invoke(app, filled)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "out").exists()


def test_figure_2c_small_run_and_resume(model_folders, tmp_path):
    rng = np.random.default_rng(1)
    rows = ["text,label"] + [f"{' '.join(f'w{i}' for i in rng.integers(0, 37, 30))},{n % 2}" for n in range(40)]
    (tmp_path / "data.csv").write_text("\n".join(rows))
    args = ["figure", "2c", "--base-model", str(model_folders[0]), "--data", str(tmp_path / "data.csv"),
            "--prompts", str(tmp_path / "data.csv"), "--toxic", "2", "--nontoxic", "1", "--finetune-steps", "2",
            "--finetune-lr", "1e-2", "--finetune-batch", "2", "--finetune-accumulate", "2", "--heldout-texts", "8",
            "--site", "layers.1", "--k", "4", "--length", "24", "--prompt-length", "12", "--align-steps", "2",
            "--align-batch", "2", "--pairs", "6", "--test-pairs", "4", "--out", str(tmp_path / "fig"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert np.isfinite(np.array(summary["token_matrix"], dtype=float)).all()
    assert set(summary["groups"]) == {"toxic<->toxic", "toxic<->nontoxic", "self"}
    assert summary["groups"]["toxic<->nontoxic"]["n"] == 4
    # pairwise runs (one per model pair, four directions) beside the joint one: 3 pairs of 3 models
    assert summary["pairwise_groups"]["toxic<->nontoxic"]["n"] == 4 and summary["pairwise_groups"]["self"]["n"] == 3
    saved = json.loads((tmp_path / "fig" / "results.json").read_text())
    assert np.isfinite(np.array(saved["pairwise_token_matrix"], dtype=float)).all()
    # The control is summarised per group like the IIA, so cross-model cells meet cross-model controls.
    assert set(summary["control_groups"]) == set(summary["groups"])
    assert set(saved["pairwise_control_groups"]) == set(saved["pairwise_groups"])
    joint = json.loads((tmp_path / "fig" / "mas" / "results.json").read_text())
    assert joint["job"]["align"]["direction_sampling"] == "all"  # another base: the paper profile's n² a step
    control = joint["control_token_iia"]
    assert [[control[f"{s}->{t}"] for t in range(3)] for s in range(3)] == joint["control_token_matrix"]
    # The figure keeps both control matrices, which the report's trained-against-control claim reads.
    assert saved["control_token_matrix"] == joint["control_token_matrix"]
    assert np.array(saved["pairwise_control_token_matrix"], dtype=float).shape == (3, 3)
    assert summary["control_groups"]["self"]["mean"] == pytest.approx(np.mean([control[f"{i}->{i}"] for i in range(3)]))
    assert sorted(p.name for p in (tmp_path / "fig" / "mas-pairs").iterdir()) == [
        "toxic-0+nontoxic-0", "toxic-0+toxic-1", "toxic-1+nontoxic-0"]
    # Held-out losses of the base and of every copy: full fine-tuning at lr 1e-2 moves each copy off the base.
    losses = summary["heldout_loss"]
    assert set(losses) == {"base", "toxic-0", "toxic-1", "nontoxic-0"}
    assert all(np.isfinite(v) and v > 0 for loss in losses.values() for v in loss.values())
    assert all(losses[name] != losses["base"] for name in ("toxic-0", "toxic-1", "nontoxic-0"))
    assert losses["toxic-0"] != losses["toxic-1"]  # disjoint shares, own seeds
    for name in ("figure_2c.png", "iia.csv", "results.json", "mas/results.json", "models/nontoxic-0/finetune.json"):
        assert (tmp_path / "fig" / name).is_file()
    stamp = (tmp_path / "fig" / "models" / "toxic-1" / "model.safetensors").stat().st_mtime_ns
    assert runner.invoke(app, args).exit_code == 0
    assert (tmp_path / "fig" / "models" / "toxic-1" / "model.safetensors").stat().st_mtime_ns == stamp


def test_finetune_command(model_folders, tmp_path):
    (tmp_path / "data.csv").write_text("text,label\n" + "\n".join(f"w{i} w{i + 1} w{i + 2},{i % 2}" for i in range(10)))
    args = ["finetune", str(model_folders[0]), "--data", str(tmp_path / "data.csv"), "--label", "1", "--steps", "2",
            "--length", "16", "--lr", "1e-2", "--out", str(tmp_path / "ft"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["texts"] == 5
    assert (tmp_path / "ft" / "model.safetensors").is_file()
