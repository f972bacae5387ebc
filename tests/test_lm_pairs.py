"""Stepwise LM pairs on a tiny random Llama and a word-level tokenizer built here."""

import numpy as np
import pytest
import torch
from transformers import PreTrainedTokenizerFast

from mas.adapters.hf import HFAdapter
from mas.errors import MasError
from mas.lm.pairs import build_lm_pair_sets, build_lm_pairs, tokenize_exact
from mas.tasks.pairs import IGNORE
from tiny_lm import WORDS, tiny_llama, word_tokenizer

LENGTH = 24


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return word_tokenizer(WORDS)


def tiny(seed: int) -> HFAdapter:
    return HFAdapter(tiny_llama(len(WORDS), seed), name=f"tiny{seed}")


def texts(n: int, seed: int, length: int = 30) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{i}" for i in rng.integers(0, 37, size=length)) for _ in range(n)]


def test_tokenize_exact_drops_short_texts(tokenizer, caplog):
    with caplog.at_level("INFO"):
        ids = tokenize_exact(tokenizer, texts(3, 0) + ["w1 w2 w3"], LENGTH)
    assert ids.shape == (3, LENGTH)
    assert "dropped 1 of 4" in caplog.text
    with pytest.raises(MasError, match="has 24 tokens"):
        tokenize_exact(tokenizer, ["w1 w2"], LENGTH)
    with pytest.raises(MasError, match="length >= 21"):
        tokenize_exact(tokenizer, texts(3, 0), 20)


def test_pair_structure_and_labels(tokenizer):
    model = tiny(0)
    pairs = build_lm_pairs(model, tokenizer, texts(12, 1), texts(10, 2), LENGTH, seed=3)
    source = tokenize_exact(tokenizer, texts(12, 1), LENGTH)[:10]
    target = tokenize_exact(tokenizer, texts(10, 2), LENGTH)
    greedy = model.run(source).argmax(-1)
    assert len(pairs) == 10 and pairs.tokens.shape == (10, LENGTH)
    assert torch.equal(pairs.source_tokens, source)
    assert torch.equal(pairs.source_positions, pairs.target_positions)
    for i in range(10):
        t = int(pairs.source_positions[i].max())
        assert 10 <= t < LENGTH - 10
        assert pairs.source_positions[i, : t + 1].tolist() == list(range(t + 1))
        assert (pairs.source_positions[i, t + 1 :] == -1).all()
        assert torch.equal(pairs.tokens[i, : t + 1], target[i, : t + 1])
        assert torch.equal(pairs.tokens[i, t + 1 :], source[i, t + 1 :])
        assert (pairs.labels[i, :t] == IGNORE).all()
        assert torch.equal(pairs.labels[i, t:], greedy[i, t:])
    edited = pairs.edit_mask
    assert torch.equal(edited.sum(1), (pairs.target_positions >= 0).sum(1))


def test_pair_sets_cover_all_directions(tokenizer):
    models_ = [tiny(0), tiny(1)]
    sets = build_lm_pair_sets(models_, tokenizer, texts(20, 4), LENGTH, n=6, seed=0)
    assert sorted(sets) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for (s, _), pairs in sets.items():
        assert len(pairs) == 6
        greedy = models_[s].run(pairs.source_tokens).argmax(-1)
        kept = pairs.labels != IGNORE
        assert torch.equal(pairs.labels[kept], greedy[kept])
    again = build_lm_pair_sets(models_, tokenizer, texts(20, 4), LENGTH, n=6, seed=0)
    assert all(torch.equal(sets[d].tokens, again[d].tokens) for d in sets)
    assert not torch.equal(sets[(0, 0)].tokens, sets[(0, 1)].tokens)


def test_self_generated_pairs_follow_each_models_own_greedy_text(tokenizer):
    """With prompts, each sequence is its model's own greedy continuation; labels are the source's greedy tokens."""
    models_ = [tiny(0), tiny(1)]
    prompt = 12
    sets = build_lm_pair_sets(models_, tokenizer, texts(20, 5), LENGTH, n=5, seed=0, prompt_length=prompt)
    prompts = tokenize_exact(tokenizer, texts(20, 5), LENGTH)[:, :prompt]
    for (s, t), pairs in sets.items():
        source = pairs.source_tokens
        assert source.shape == (5, LENGTH)
        # the source's prompt is one of the texts' first tokens, the rest its own step-by-step argmax
        assert all(any(torch.equal(row[:prompt], p) for p in prompts) for row in source)
        for i in range(prompt, LENGTH):
            assert torch.equal(source[:, i], models_[s].run(source[:, :i])[:, -1].argmax(-1))
        greedy = models_[s].run(source).argmax(-1)
        kept = pairs.labels != IGNORE
        assert torch.equal(pairs.labels[kept], greedy[kept])
        # after the prompt the labels are the source's own next tokens in its sequence
        for row in range(5):
            step = int(pairs.source_positions[row].max())
            assert torch.equal(pairs.labels[row, max(step, prompt - 1):-1], source[row, max(step, prompt - 1) + 1:])
            # the target's prefix is the target model's own text: its tokens after the prompt are its argmax
            prefix = pairs.tokens[row, : step + 1]
            for i in range(prompt, step + 1):
                assert int(prefix[i]) == int(models_[t].run(prefix[None, :i])[0, -1].argmax())
    with pytest.raises(MasError, match="leave no room"):
        build_lm_pair_sets(models_, tokenizer, texts(20, 5), LENGTH, n=5, prompt_length=LENGTH)
