"""`mas lm-site-study`: DAS per site of a Hugging Face model on a pair file, chosen on validation."""

import json
from pathlib import Path

from typer.testing import CliRunner

from mas.adapters.hf import HFAdapter
from mas.cli import app
from mas.io import read_json
from tiny_lm import WORDS, confident_llama, last_word_pairs, tiny_llama, word_tokenizer, write_jsonl


def test_the_site_that_holds_the_last_word_is_found_and_a_rerun_reuses_it(tmp_path: Path) -> None:
    """The answer hangs on the base's last word, which the last token's embedding holds alone: the
    study picks `embed` on validation and scores it high on held-out pairs; the first block's attention
    output at that token is scored beside it. A rerun trains nothing."""
    folder = tmp_path / "lm"
    model, tokenizer = confident_llama(folder)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", last_word_pairs(HFAdapter(model, name="tiny"), tokenizer, 200, 0))
    out = tmp_path / "study"
    args = ["lm-site-study", str(folder), "--pairs-file", str(pairs), "--sites", "embed,layers.0.attn", "--ks", "2",
            "--steps", "200", "--lr", "0.03", "--batch-size", "16", "--out", str(out), "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output.strip().splitlines()[-1])
    scores = {row["site"]: row for row in summary["rows"]}
    assert summary["chosen"]["site"] == "embed" and scores["embed"]["test_iia"] >= 0.7, scores
    assert sorted(scores) == ["embed", "layers.0.attn"] and {r["mode"] for r in summary["rows"]} == {"file"}
    assert len(read_json(out / "results.json")["rows"]) == 2 and (out / "summary.csv").is_file()
    again = CliRunner().invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output.strip().splitlines()[-1])["rows"] == summary["rows"]  # seconds too: nothing rerun


def test_a_site_beyond_the_blocks_is_refused_before_loading(tmp_path: Path) -> None:
    folder = tmp_path / "lm"
    tiny_llama(len(WORDS)).save_pretrained(folder)
    word_tokenizer(WORDS).save_pretrained(folder)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"base": "w1 w2", "source": "w3", "expected": " w4"}] * 5)
    out = tmp_path / "study"
    result = CliRunner().invoke(app, ["lm-site-study", str(folder), "--pairs-file", str(pairs), "--sites", "layers.7",
                                      "--out", str(out)])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "beyond the 2 layers" in lines[0], result.output
    assert not out.exists()
