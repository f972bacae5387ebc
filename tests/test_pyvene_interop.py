"""pyvene both ways: an exported alignment scores the same IIA in pyvene, a pyvene rotation in `mas evaluate`."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from mas.adapters.hf import HFAdapter, load_causal_lm
from mas.cli import app
from mas.interop.pyvene import intervenable, load_intervenable, pyvene_iia
from mas.lm.pair_files import pair_sets_from_file, read_pair_file
from tiny_lm import WORDS, last_word_pairs, tiny_llama, word_tokenizer, write_jsonl

pv = pytest.importorskip("pyvene")


def invoke(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny Llama, a training and a fresh pair file, and a `mas lm-align` run on it."""
    root = tmp_path_factory.mktemp("pyvene")
    tokenizer, model = word_tokenizer(WORDS), tiny_llama(len(WORDS), seed=5)
    with torch.no_grad():
        model.lm_head.weight *= 30
    folder = root / "lm"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    adapter = HFAdapter(model, name="tiny")
    train = write_jsonl(root / "train.jsonl", last_word_pairs(adapter, tokenizer, 120, 0))
    fresh = write_jsonl(root / "fresh.jsonl", last_word_pairs(adapter, tokenizer, 30, 1))
    run = root / "run"
    invoke("lm-align", str(folder), "--pairs-file", str(train), "--site", "embed", "--k", "2", "--steps", "150",
           "--lr", "0.03", "--pairs", "200", "--batch-size", "16", "--out", str(run), "--quiet")
    pairs = {name: pair_sets_from_file(read_pair_file(path), [tokenizer], ["tiny"], path, range(len(read_pair_file(path))))[(0, 0)]
             for name, path in (("train", train), ("fresh", fresh))}
    return {"root": root, "folder": folder, "fresh": fresh, "run": run, "pairs": pairs}


def test_an_exported_alignment_scores_the_same_iia_in_pyvene(setup: dict) -> None:
    out = setup["root"] / "exported"
    metadata = invoke("export", str(setup["run"]), "--to", "pyvene", "--out", str(out))
    assert metadata["folders"] == ["model_0"] and metadata["k"] == 2
    ours = invoke("evaluate", str(setup["run"]), "--pairs-file", str(setup["fresh"]))["iia"]["0->0"]
    loaded = pv.IntervenableModel.load(str(out / "model_0"), load_causal_lm(setup["folder"]).eval())
    assert ours >= 0.7
    assert abs(pyvene_iia(loaded, setup["pairs"]["fresh"]) - ours) <= 1e-6


def test_a_rotation_trained_in_pyvene_is_evaluated_by_mas(setup: dict) -> None:
    model = load_causal_lm(setup["folder"]).eval()
    wrapped = intervenable(model, "embed", torch.linalg.qr(torch.randn(32, 2))[0])
    optimizer = torch.optim.Adam(wrapped.get_trainable_parameters(), lr=0.03)
    train = setup["pairs"]["train"]
    for step in range(150):
        batch = train.subset(torch.randint(len(train), (16,), generator=torch.Generator().manual_seed(step)))
        where = [[[int(p)] for p in batch.target_positions[:, 0]]]
        _, out = wrapped({"input_ids": batch.tokens}, [{"input_ids": batch.source_tokens}],
                         {"sources->base": ([[[int(p)] for p in batch.source_positions[:, 0]]], where)})
        loss = F.cross_entropy(out.logits.flatten(0, 1), batch.labels.flatten(), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    saved = setup["root"] / "trained-in-pyvene"
    wrapped.save(str(saved))
    theirs = pyvene_iia(load_intervenable(saved, load_causal_lm(setup["folder"]).eval())[0], setup["pairs"]["fresh"])
    imported = setup["root"] / "imported"
    invoke("import-pyvene", str(saved), "--model", str(setup["folder"]), "--out", str(imported))
    ours = invoke("evaluate", str(imported), "--pairs-file", str(setup["fresh"]))
    assert theirs >= 0.7 and abs(ours["iia"]["0->0"] - theirs) <= 1e-6, (theirs, ours)
    assert ours["control_iia"] <= theirs - 0.35


@pytest.mark.parametrize(("args", "message"), [
    (["export", "{run}", "--to", "pyvene"], "--to pyvene needs --out"),
    (["export", "{run}", "--to", "onnx", "--out", "{root}/x"], "--to 'onnx': use mas or pyvene"),
    (["import-pyvene", "{root}", "--model", "{folder}", "--out", "{root}/y"], "is not a saved pyvene intervention"),
])
def test_bad_interop_input_gives_one_line(setup: dict, args: list[str], message: str) -> None:
    args = [a.format(run=setup["run"], root=setup["root"], folder=setup["folder"]) for a in args]
    failed = CliRunner().invoke(app, args)
    lines = [line for line in failed.output.strip().splitlines() if line.strip()]
    assert failed.exit_code == 2 and len(lines) == 1 and message in lines[0], failed.output
    assert not (Path(str(setup["root"])) / "y").exists()
