"""A tiny random Llama, a word-level tokenizer and pair files for it, built here so LM tests need no download."""

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from mas.adapters.hf import HFAdapter

WORDS = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(37)]


def word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    """One token per whitespace-separated word; `words` must hold <pad>, <eos> and <unk>."""
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def tiny_llama(vocab_size: int, seed: int = 0, width: int = 32, layers: int = 2, kv_heads: int = 4,
               context: int = 64) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=width, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=context)
    return LlamaForCausalLM(config)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def last_word_pairs(adapter: HFAdapter, tokenizer: PreTrainedTokenizerFast, n: int, seed: int) -> list[dict]:
    """Pairs whose answer is decided by the base's last word alone: base and source end in different
    words, w0 and w1 (random prefixes of w4..w36), and `expected` is the model's own answer on the base
    prefix followed by the source's last word. Kept only where that answer differs from the base's."""
    generator = torch.Generator().manual_seed(seed)
    prefixes, others = (torch.randint(4, 37, (4 * n, 5), generator=generator) for _ in "ab")
    last = torch.stack([torch.randperm(2, generator=generator) for _ in range(4 * n)])
    ids = [torch.tensor(tokenizer.convert_tokens_to_ids([f"w{w}" for w in range(37)]))[torch.cat([prefixes, last[:, i:i + 1]], 1)]
           for i in (0, 1)]
    answers = [adapter.run(x)[:, -1].argmax(-1) for x in ids]
    keep = (answers[0] != answers[1]).nonzero().flatten()[:n].tolist()
    assert len(keep) == n

    def text(words: torch.Tensor, end: int) -> str:
        return " ".join(f"w{int(w)}" for w in [*words, end])

    return [{"base": text(prefixes[i], last[i, 0]), "source": text(others[i], last[i, 1]),
             "expected": " " + tokenizer.convert_ids_to_tokens(int(answers[1][i]))} for i in keep]


def confident_llama(folder: Path, seed: int = 5) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A tiny Llama over `WORDS` with confident answers (so the loss of a wrong one is large), saved
    with its tokenizer into `folder`."""
    tokenizer, model = word_tokenizer(WORDS), tiny_llama(len(WORDS), seed=seed)
    with torch.no_grad():
        model.lm_head.weight *= 30
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer
