"""JSONL counterfactual pair files for language models: schema errors, per-tokenizer positions, IIA."""

import json
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from mas.adapters.hf import HFAdapter
from mas.align import AlignConfig, AlignmentTrainer, Rotations
from mas.cli import app
from mas.errors import MasError
from mas.evaluate import evaluate_iia
from mas.io import read_json
from mas.lm.pair_files import pair_sets_from_file, read_pair_file
from tiny_lm import WORDS, confident_llama, last_word_pairs, tiny_llama, word_tokenizer, write_jsonl


@pytest.mark.parametrize(("record", "message"), [
    ({"source": "w1", "expected": " w2"}, "line 2, field 'base'"),
    ({"base": "w1", "source": "w1", "expected": ""}, "line 2, field 'expected'"),
    ({"base": "w1 [[w2", "source": "w1", "expected": " w2"}, "line 2, field 'base': mark one"),
    ({"base": "w1", "source": "w1", "source_position": "last", "expected": " w2"}, "line 2, field source_position"),
    ({"base": "w1", "source": "w1", "expected": " w2", "answer": 3}, "line 2, field 'answer'"),
])
def test_schema_errors_name_line_and_field(tmp_path: Path, record: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"base": "w1 w2", "source": "w3", "expected": " w4"}, record])
    with pytest.raises(MasError, match=message):
        read_pair_file(path)


def digit_tokenizer() -> PreTrainedTokenizerFast:
    """Splits "w12" into "w", "1", "2": another tokenization of the same texts."""
    vocab = ["<pad>", "<eos>", "<unk>", "w"] + [str(i) for i in range(10)]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits(True)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def test_positions_are_resolved_per_tokenizer(tmp_path: Path) -> None:
    """A marked span's last token, and negative indices, land on the same words under two tokenizers."""
    words, digits = word_tokenizer(WORDS), digit_tokenizer()
    path = write_jsonl(tmp_path / "pairs.jsonl", [
        {"base": "w1 [[w2 w13]] w4", "source": "w5 w6", "source_position": -2, "expected": " w7"}])
    sets = pair_sets_from_file(read_pair_file(path), [words, digits], ["a", "b"], path, [0])
    # words: w1 w2 w13 w4 | digits: w 1 w 2 w 1 3 w 4; the span ends with "w13" / "3"
    assert sets[(0, 1)].target_positions.tolist() == [[6]] and sets[(0, 1)].source_positions.tolist() == [[0]]
    assert sets[(1, 0)].target_positions.tolist() == [[2]] and sets[(1, 0)].source_positions.tolist() == [[2]]
    seven = digits.convert_tokens_to_ids("7")
    assert sets[(0, 1)].labels[0].tolist() == [-100] * 8 + [digits.convert_tokens_to_ids("w"), seven, -100]
    assert sets[(1, 0)].labels[0].tolist() == [-100] * 3 + [words.convert_tokens_to_ids("w7"), -100]
    far = write_jsonl(tmp_path / "far.jsonl", [{"base": "w1", "base_position": 1, "source": "w2", "expected": " w3"}])
    with pytest.raises(MasError, match="line 1, field 'base' \\(a\\): position 1 is outside"):
        pair_sets_from_file(read_pair_file(far), [words, digits], ["a", "b"], far, [0])


def test_full_width_swap_at_the_last_layer_gives_the_sources_answer(tmp_path: Path) -> None:
    """With k = width the last block's state at the base's last token becomes the source's, so the
    model must answer as it does on the source: IIA 1 whatever the rotation; k = 1 is far from that."""
    tokenizer = word_tokenizer(WORDS)
    model = tiny_llama(len(WORDS), seed=3, layers=2)
    adapter = HFAdapter(model, name="tiny")
    generator = torch.Generator().manual_seed(0)
    records = []
    for _ in range(24):
        base, source = (" ".join(f"w{int(i)}" for i in torch.randint(0, 37, (6,), generator=generator)) for _ in "ab")
        answer = adapter.run(torch.tensor([tokenizer(source)["input_ids"]]))[0, -1].argmax()
        records.append({"base": base, "source": source, "expected": " " + tokenizer.convert_ids_to_tokens(int(answer))})
    path = write_jsonl(tmp_path / "pairs.jsonl", records)
    pairs = pair_sets_from_file(read_pair_file(path), [tokenizer], ["tiny"], path, list(range(24)))
    scores = {}
    for k in (32, 1):
        trainer = AlignmentTrainer([adapter], ["layers.1"], AlignConfig(k=k))
        scores[k] = evaluate_iia(trainer, Rotations([32], seed=1), pairs, free_running=False)[(0, 0)].trial
    assert scores[32] == 1.0 and scores[1] < 0.7, scores


def test_lm_align_reads_a_pair_file_across_tokenizers(tmp_path: Path) -> None:
    """Two models with different tokenizers and vocabularies, compared on one file."""
    folders = []
    for i, tokenizer in enumerate((word_tokenizer(WORDS), digit_tokenizer())):
        folder = tmp_path / f"lm{i}"
        tiny_llama(len(tokenizer), seed=i).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(folder)
    generator = torch.Generator().manual_seed(0)
    records = [{"base": " ".join(f"w{int(j)}" for j in torch.randint(0, 37, (5,), generator=generator)),
                "source": "w3 [[w4]] w5", "expected": f" w{i % 10}"} for i in range(20)]
    path = write_jsonl(tmp_path / "pairs.jsonl", records)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["lm-align", *map(str, folders), "--pairs-file", str(path), "--site", "layers.0",
                                      "--k", "4", "--steps", "2", "--batch-size", "4", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert sorted(summary["token_iia"]) == ["0->0", "0->1", "1->0", "1->1"]
    assert read_json(out / "results.json")["job"]["pairs"] == str(path)
    bad = write_jsonl(tmp_path / "bad.jsonl", records[:3] + [{"base": "w1", "expected": " w2"}])
    result = CliRunner().invoke(app, ["lm-align", *map(str, folders), "--pairs-file", str(bad), "--out", str(out)])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "line 4, field 'source'" in lines[0], result.output


def test_evaluate_applies_saved_rotations_to_a_pair_file(tmp_path: Path) -> None:
    """A rotation trained at the last token's embedding carries the last word over (the two words differ
    in one direction, k = 2): `mas evaluate --pairs-file` scores it high on another file's pairs and the
    untrained rotation low, and without a file it reproduces the run's own held-out IIA."""
    folder = tmp_path / "lm"
    model, tokenizer = confident_llama(folder)
    adapter = HFAdapter(model, name="tiny")
    train, fresh = write_jsonl(tmp_path / "train.jsonl", last_word_pairs(adapter, tokenizer, 120, 0)), tmp_path / "fresh.jsonl"
    write_jsonl(fresh, last_word_pairs(adapter, tokenizer, 30, 1))
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["lm-align", str(folder), "--pairs-file", str(train), "--site", "embed", "--k", "2",
                                      "--steps", "200", "--lr", "0.03", "--pairs", "200", "--batch-size", "16",
                                      "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    scored = CliRunner().invoke(app, ["evaluate", str(run), "--pairs-file", str(fresh), "--json"])
    assert scored.exit_code == 0, scored.output
    summary = json.loads(scored.output.strip().splitlines()[-1])
    assert summary["pairs"] == 30 and summary["iia"]["0->0"] >= 0.7, summary
    assert summary["control_iia"] <= summary["iia"]["0->0"] - 0.35, summary
    held_out = CliRunner().invoke(app, ["evaluate", str(run), "--json"])
    assert json.loads(held_out.output.strip().splitlines()[-1])["iia"] == read_json(run / "results.json")["trial_iia"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"base": "w1 w2", "source": "w3", "expected": " w4"}, {"base": "w1", "expected": " w2"}])
    for args, message in [((str(bad),), "line 2, field 'source'"), (("nowhere",), "missing pair file: nowhere")]:
        failed = CliRunner().invoke(app, ["evaluate", str(run), "--pairs-file", *args])
        lines = [line for line in failed.output.strip().splitlines() if line.strip()]
        assert failed.exit_code == 2 and len(lines) == 1 and message in lines[0], failed.output


@pytest.mark.slow
def test_shipped_capitals_resolve_with_the_smollm2_tokenizer() -> None:
    """Every pair of the shipped example intervenes at its country's last token and scores its capital."""
    from mas.adapters.hf import load_tokenizer
    from mas.lm.pair_files import pair_file_path, resolve_pairs
    from mas.lm.smollm2 import smollm2_gguf

    path = pair_file_path("capitals")
    specs = read_pair_file(path)
    tokenizer = load_tokenizer(smollm2_gguf())
    view = resolve_pairs(specs, tokenizer, path, "smollm2")
    assert len(specs) >= 100
    for spec, (ids, position), (full, target, labels) in zip(specs, view.source, view.target):
        for side, tokens, at in ((spec.source, ids, position), (spec.base, full, target)):
            country = side.text[side.text.index("of ") + 3 : side.text.index("?")]
            assert tokenizer.decode(tokens[: at + 1]).endswith(country) and tokens[at + 1] == ids[position + 1]
        assert tokenizer.decode([t for t in labels if t != -100]) == spec.expected
