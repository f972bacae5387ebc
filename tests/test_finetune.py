"""Text-set loading and fine-tuning of a tiny random Llama into a folder HFAdapter loads."""

import json

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from mas.adapters.hf import HFAdapter, load_tokenizer
from mas.errors import MasError
from mas.lm.data import load_texts, unescape
from mas.lm.finetune import FinetuneConfig, finetune
from tiny_lm import tiny_llama, word_tokenizer

WORDS = ["<pad>", "<eos>", "<unk>", "you", "are", "nice", "rude", "very", "a", "person", "idiot", "friend"]


@pytest.fixture()
def tokenizer() -> PreTrainedTokenizerFast:
    return word_tokenizer(WORDS)


def tiny() -> LlamaForCausalLM:
    return tiny_llama(len(WORDS))


@pytest.fixture()
def comments(tmp_path):
    path = tmp_path / "comments.csv"
    path.write_text(
        "label,text\n"
        '1,"you are a very rude idiot"\n'
        '0,"you are a nice friend"\n'
        '1,"""you are rude"""\n'
        ',"unlabelled person"\n'
        '0,"a very nice person"\n'
    )
    return path


def test_unescape():
    assert unescape('"i am\\xa0here.\\\\n\\\\nok"') == "i am\xa0here.\n\nok"
    assert unescape("don\\\\xe2\\\\x80\\\\x99t \\u00e9t\\xe9") == "don\u2019t \u00e9t\u00e9"


def test_load_texts_from_files(tmp_path, comments):
    assert load_texts(comments, label=1) == ["you are a very rude idiot", '"you are rude"']
    assert load_texts(comments, label="0") == ["you are a nice friend", "a very nice person"]
    assert len(load_texts(comments)) == 5
    jsonl = tmp_path / "rows.jsonl"
    lines = [{"body": "a nice person", "toxic": 0}, {"body": "idiot", "toxic": 1}]
    jsonl.write_text("\n".join(json.dumps(line) for line in lines))
    assert load_texts(jsonl, text_column="body", label_column="toxic", label=0) == ["a nice person"]
    array = tmp_path / "rows.json"
    array.write_text(json.dumps([{"text": "you are nice", "label": 0}, {"text": "idiot", "label": 1}]))
    assert load_texts(array, label=1) == ["idiot"]
    txt = tmp_path / "lines.txt"
    txt.write_text("you are nice\n\nvery nice\n")
    assert load_texts(txt) == ["you are nice", "very nice"]


def test_load_texts_refuses_bad_files(tmp_path, comments):
    empty = tmp_path / "empty.csv"
    empty.write_text("label,text\n")
    with pytest.raises(MasError, match="no rows"):
        load_texts(empty, label=1)
    with pytest.raises(MasError, match="no non-empty texts with label = 7"):
        load_texts(comments, label=7)
    with pytest.raises(MasError, match="no column 'comment'"):
        load_texts(comments, text_column="comment")
    with pytest.raises(MasError, match="not found"):
        load_texts(tmp_path / "missing.csv")
    with pytest.raises(MasError, match="unsupported"):
        load_texts(comments.rename(tmp_path / "comments.parquet"))


def test_insults_are_found_and_split_by_label():
    insulting, other = load_texts("insults", label=1), load_texts("insults", label=0)
    assert (len(insulting), len(other)) == (1049, 2898)
    assert insulting[0] == "You fuck your dad."
    assert not any("\\x" in text or "\\n" in text for text in insulting + other)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
@pytest.mark.parametrize("lora_rank", [0, 4])
def test_finetune_writes_a_loadable_folder(tmp_path, comments, tokenizer, lora_rank):
    base = tiny()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    config = FinetuneConfig(steps=3, batch_size=2, length=8, lr=1e-2, lora_rank=lora_rank, seed=1)
    out = finetune(base, load_texts(comments, label=1), tmp_path / "model", config, tokenizer=tokenizer, progress=False)
    assert (out / "model.safetensors").is_file() and (out / "finetune.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    adapter = HFAdapter(out, device="cpu")
    loaded = adapter.model.state_dict()
    assert set(loaded) >= {k for k in before if "rotary" not in k}
    assert any(not torch.equal(loaded[k], before[k]) for k in loaded if k in before)
    ids = load_tokenizer(out)(["you are rude"], return_tensors="pt").input_ids
    assert adapter.run(ids).shape == (1, 3, len(WORDS))


def test_finetune_is_deterministic(tmp_path, comments, tokenizer):
    config = FinetuneConfig(steps=2, batch_size=2, length=8, lr=1e-2, seed=5)
    texts = load_texts(comments, label=1)
    outs = [finetune(tiny(), texts, tmp_path / f"m{i}", config, tokenizer=tokenizer, progress=False) for i in range(2)]
    a, b = (HFAdapter(o, device="cpu").model.state_dict() for o in outs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finetune_refuses_bad_settings(tmp_path, tokenizer):
    with pytest.raises(MasError, match="steps"):
        finetune(tiny(), ["you are nice"], tmp_path / "m", FinetuneConfig(steps=0), tokenizer=tokenizer)
    with pytest.raises(MasError, match="no texts"):
        finetune(tiny(), [], tmp_path / "m", tokenizer=tokenizer)
    with pytest.raises(MasError, match="tokenizer"):
        finetune(tiny(), ["you are nice"], tmp_path / "m")
    with pytest.raises(MasError, match="exceed the 64-token context"):
        finetune(tiny(), ["you are nice"], tmp_path / "m", FinetuneConfig(length=65), tokenizer=tokenizer)
    assert not (tmp_path / "m").exists()
