"""HFAdapter on a tiny random Llama built here, and SmolLM2 from its shipped GGUF (slow)."""

import time

import pytest
import torch

from mas.adapters.base import ModelAdapter
from mas.adapters.hf import HFAdapter, check_config, load_tokenizer
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.errors import MasError
from tiny_lm import tiny_llama

VOCAB, WIDTH, LAYERS, CONTEXT = 48, 32, 3, 64


@pytest.fixture(scope="module")
def adapter() -> HFAdapter:
    return HFAdapter(tiny_llama(VOCAB, width=WIDTH, layers=LAYERS, kv_heads=2, context=CONTEXT), name="tiny")


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    return torch.randint(0, VOCAB, (3, 20), generator=torch.Generator().manual_seed(1))


def test_sites_and_shapes(adapter, tokens):
    assert adapter.sites == ("embed", *(f"layers.{i}{part}" for i in range(LAYERS) for part in ("", ".attn", ".mlp")))
    assert all(not p.requires_grad for p in adapter.model.parameters())
    assert adapter.device == torch.device("cpu")
    for site in adapter.sites:
        states = adapter.read(site, tokens)
        assert states.shape == (3, 20, WIDTH) and states.dtype == torch.float32
        assert adapter.width(site) == WIDTH
    assert adapter.run(tokens).shape == (3, 20, VOCAB)
    assert adapter.run(tokens, output_mask=torch.ones(tokens.shape, dtype=torch.bool)).shape == (3, 20, VOCAB)
    with pytest.raises(MasError, match="output_mask shape"):
        adapter.run(tokens, output_mask=torch.ones(3, 19, dtype=torch.bool))


def test_read_matches_hidden_states(adapter, tokens):
    hidden = adapter.model(input_ids=tokens, output_hidden_states=True).hidden_states
    torch.testing.assert_close(adapter.read("embed", tokens), hidden[0])
    torch.testing.assert_close(adapter.read("layers.1", tokens), hidden[2])


@pytest.mark.parametrize("site", ["embed", "layers.0", "layers.2"])
def test_identity_edit_changes_nothing(adapter, tokens, site):
    mask = torch.ones(tokens.shape, dtype=torch.bool)
    intervention = Intervention(site, mask, lambda rows, batch, pos: rows)
    torch.testing.assert_close(adapter.run(tokens, intervention), adapter.run(tokens), rtol=0, atol=0)


def test_edit_changes_only_later_positions(adapter, tokens):
    p = 7
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, p] = True
    intervention = Intervention("layers.1", mask, lambda rows, batch, pos: rows + 1.0)
    plain, edited = adapter.run(tokens), adapter.run(tokens, intervention)
    torch.testing.assert_close(edited[:, :p], plain[:, :p], rtol=0, atol=0)
    assert (edited[:, p:] - plain[:, p:]).abs().amax(-1).gt(1e-6).all()


def test_gradients_reach_the_edit(adapter, tokens):
    shift = torch.zeros(WIDTH, requires_grad=True)
    mask = torch.ones(tokens.shape, dtype=torch.bool)
    adapter.run(tokens, Intervention("layers.0", mask, lambda rows, b, p: rows + shift)).sum().backward()
    assert shift.grad is not None and shift.grad.abs().sum() > 0
    assert all(p.grad is None for p in adapter.model.parameters())


def test_output_mask_computes_only_the_scored_positions(adapter, tokens):
    mask = torch.rand(tokens.shape, generator=torch.Generator().manual_seed(2)) < 0.4
    edit = Intervention("layers.1", torch.ones(tokens.shape, dtype=torch.bool), lambda rows, b, p: rows * 0.5)
    full = adapter.run(tokens, edit)
    masked = adapter.run(tokens, edit, output_mask=mask)
    torch.testing.assert_close(masked[mask], full[mask])
    assert (masked[~mask] == 0).all()
    torch.testing.assert_close(adapter.run_selected(tokens, mask, edit), full[mask])
    seen: list[tuple[int, ...]] = []
    handle = adapter.model.lm_head.register_forward_hook(lambda m, a, out: seen.append(tuple(out.shape)))
    try:
        adapter.run(tokens, output_mask=mask)
    finally:
        handle.remove()
    assert seen == [(1, int(mask.sum()), VOCAB)]


def test_output_mask_passes_gradients(adapter, tokens):
    shift = torch.zeros(WIDTH, requires_grad=True)
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, 12:] = True
    edit = Intervention("layers.0", torch.ones(tokens.shape, dtype=torch.bool), lambda rows, b, p: rows + shift)
    adapter.run_selected(tokens, mask, edit).logsumexp(-1).sum().backward()
    masked_grad = shift.grad.clone()
    shift.grad = None
    adapter.run(tokens, edit)[mask].logsumexp(-1).sum().backward()
    torch.testing.assert_close(masked_grad, shift.grad)


def test_cached_states_give_the_same_outputs_and_gradients(adapter, tokens):
    cached = HFAdapter(adapter.model, name="tiny-cached", cache_states=True)
    shift = torch.zeros(WIDTH, requires_grad=True)
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, :9] = True
    edit = Intervention("layers.1", mask, lambda rows, b, p: rows + shift)
    adapter.run(tokens, edit).sum().backward()
    expected = shift.grad.clone()
    for rows in (tokens[[0, 1]], tokens[[2, 0]], tokens):  # misses, then hits and misses mixed
        shift.grad = None
        edit = Intervention("layers.1", mask[: len(rows)], lambda rows, b, p: rows + shift)
        out = cached.run(rows, edit)
        out.sum().backward()
        torch.testing.assert_close(out, adapter.run(rows, edit))
    torch.testing.assert_close(shift.grad, expected)
    assert len(cached._states) == len(tokens)
    torch.testing.assert_close(cached.read("layers.1", tokens), adapter.read("layers.1", tokens))
    assert len(cached._states) == len(tokens)
    assert all("forward" not in layer.__dict__ for layer in adapter.model.model.layers)
    torch.testing.assert_close(cached.run(tokens), adapter.run(tokens))


def test_hooks_are_removed_after_errors(adapter, tokens):
    def broken(rows, batch, pos):
        raise RuntimeError("boom")

    hooks = [len(layer._forward_hooks) for layer in adapter.model.model.layers]
    with pytest.raises(RuntimeError):
        adapter.run(tokens, Intervention("layers.0", torch.ones(tokens.shape, dtype=torch.bool), broken))
    assert [len(layer._forward_hooks) for layer in adapter.model.model.layers] == hooks
    torch.testing.assert_close(adapter.run(tokens), adapter.run(tokens))


def test_bad_inputs(adapter, tokens):
    with pytest.raises(MasError, match="unknown site"):
        adapter.read("hidden", tokens)
    with pytest.raises(MasError, match="unknown site"):
        adapter.read("layers.3", tokens)
    with pytest.raises(MasError, match="beyond the 3 layers"):
        adapter.width("layers.9")
    with pytest.raises(MasError, match="feed_mask"):
        adapter.run(tokens, feed_mask=torch.ones(tokens.shape, dtype=torch.bool))
    with pytest.raises(MasError, match="context"):
        adapter.run(torch.zeros(1, CONTEXT + 1, dtype=torch.long))
    with pytest.raises(MasError, match="vocabulary"):
        adapter.run(torch.full((1, 4), VOCAB))


def test_unknown_model_fails_fast():
    start = time.perf_counter()
    with pytest.raises(MasError, match="no-such-org/no-such-model"):
        HFAdapter("no-such-org/no-such-model")
    with pytest.raises(MasError, match="no-such-org/no-such-model"):
        load_tokenizer("no-such-org/no-such-model")
    with pytest.raises(MasError, match="GGUF file not found"):
        HFAdapter("/nonexistent/model.gguf")
    assert time.perf_counter() - start < 10


@pytest.mark.slow
def test_smollm2_self_intervention_changes_nothing():
    from mas.lm.smollm2 import smollm2_gguf

    path = smollm2_gguf()
    model, tokenizer = HFAdapter(path, device="cpu"), load_tokenizer(path)
    assert len(model.sites) == 1 + 30 * 3 and model.width("layers.12") == model.width("layers.12.mlp") == 576
    tokens = tokenizer(["The capital of France is Paris, and the capital of Italy is"], return_tensors="pt").input_ids
    plain = model.run(tokens)
    assert tokenizer.decode(plain[0, -1].argmax()).strip() == "Rome"
    for site in ("embed", "layers.12", "layers.12.attn", "layers.29", "layers.29.mlp"):
        own = model.read(site, tokens)
        mask = torch.zeros(tokens.shape, dtype=torch.bool)
        mask[:, 2:] = True
        swap = Intervention(site, mask, lambda rows, batch, pos: own[batch, pos])
        torch.testing.assert_close(model.run(tokens, swap), plain, rtol=0, atol=1e-4)


def late_edits(tokens: torch.Tensor, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Edit masks of three positions from each row's start, and scored positions from there on."""
    after = torch.arange(tokens.shape[1]) >= start[:, None]
    return after & (torch.arange(tokens.shape[1]) < start[:, None] + 3), after


@pytest.mark.parametrize("site", ["embed", "layers.0", "layers.1"])
def test_resumed_runs_match_whole_runs(adapter, tokens, site):
    """A run started from recorded keys and values gives the logits and gradients of a whole run,
    for rows that start at different positions and for rows drawn from the record in another order."""
    cached = HFAdapter(adapter.model, name="tiny-cached", cache_states=True)
    start = torch.tensor([6, 11, 15])
    edit_mask, scored = late_edits(tokens, start)
    record = cached.resume_states(site, tokens, start)
    assert record.shape[:2] == (3, 15)
    shift = torch.zeros(WIDTH, requires_grad=True)
    gradients = []
    for model, resume in ((adapter, None), (cached, Resume(start, record))):
        edit = Intervention(site, edit_mask, lambda rows, b, p: rows + shift * (p[:, None] + 1))
        out = model.run(tokens, edit, None, scored, resume)
        out.square().sum().backward()
        gradients.append(shift.grad.clone())
        shift.grad = None
        if resume is None:
            whole = out.detach()
    torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gradients[1], gradients[0], rtol=1e-4, atol=1e-6)
    assert not torch.allclose(gradients[0], torch.zeros(WIDTH))
    rows = torch.tensor([2, 0])
    edit = Intervention(site, edit_mask[rows], lambda rows, b, p: rows + shift * (p[:, None] + 1))
    picked = cached.run(tokens[rows], edit, None, scored[rows], Resume(start[rows], record, rows))
    torch.testing.assert_close(picked, whole[rows], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="before its rows' starts"):
        cached.run(tokens, Intervention(site, torch.ones_like(edit_mask), edit.edit), None, scored, Resume(start, record))


def test_nothing_is_recorded_where_nothing_can_be_skipped(adapter, tokens):
    cached = HFAdapter(adapter.model, name="tiny-cached", cache_states=True)
    later = torch.tensor([4, 5, 6])
    assert adapter.resume_states("layers.0", tokens, later) is None  # no cache_states: whole runs
    assert cached.resume_states("layers.0", tokens, torch.zeros(3, dtype=torch.long)) is None  # stepwise pairs
    assert cached.resume_states(f"layers.{LAYERS - 1}", tokens, later) is None  # no block above the site


def test_resumed_runs_match_whole_runs_on_learned_positions(tokens):
    """GPT-2 reads positions from a table, not rotations: a resumed run must still sit at its true positions."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=WIDTH, n_layer=LAYERS, n_head=4, n_positions=CONTEXT,
                                       bos_token_id=0, eos_token_id=0))
    plain, cached = HFAdapter(model, name="gpt2"), HFAdapter(model, name="gpt2", cache_states=True)
    start = torch.tensor([6, 11, 15])
    edit_mask, scored = late_edits(tokens, start)
    for site in ("embed", "layers.0"):
        edit = Intervention(site, edit_mask, lambda rows, b, p: rows + 0.5)
        resume = Resume(start, cached.resume_states(site, tokens, start))
        torch.testing.assert_close(cached.run(tokens, edit, None, scored, resume), plain.run(tokens, edit, None, scored),
                                   rtol=1e-5, atol=1e-5)


def test_a_record_past_its_limit_is_not_made(adapter, tokens):
    """Pairs whose prefixes would need more memory than the limit run whole sequences instead."""
    from mas.align.interchange import read_resume
    from mas.tasks.pairs import PairSet

    start = torch.tensor([6, 11, 15])
    edit_mask, scored = late_edits(tokens, start)
    positions = torch.where(edit_mask, torch.arange(tokens.shape[1]), -1).sort(1, descending=True).values[:, :3]
    labels = torch.where(scored, tokens, -100)
    pairs = PairSet(source_tokens=tokens, tokens=tokens, labels=labels, source_positions=positions, target_positions=positions)
    per_position = (LAYERS - 1) * 2 * 2 * (WIDTH // 4) * 4  # blocks above layers.0 × keys, values × 2 heads × 8 × 4 bytes
    needed = len(tokens) * 15 * per_position
    for limit, kept in ((needed, True), (needed - 1, False)):
        cached = HFAdapter(adapter.model, name="tiny-cached", cache_states=True, record_limit_bytes=limit)
        record = read_resume(cached, "layers.0", pairs)
        assert (record is not None) == kept
        if kept:
            assert record.states.numel() * record.states.element_size() == needed


def test_a_model_across_devices_runs_whole_sequences():
    """The record is one table of every block's keys and values, so a model spread over devices keeps none."""
    whole = tiny_llama(VOCAB, width=WIDTH, layers=LAYERS, kv_heads=2, context=CONTEXT)
    assert HFAdapter(whole, name="one", cache_states=True).resume_fits("layers.0", torch.tensor([5, 9]))
    spread = tiny_llama(VOCAB, width=WIDTH, layers=LAYERS, kv_heads=2, context=CONTEXT)
    spread.model.layers[-1].to("meta")  # stands in for a block on another device
    assert not HFAdapter(spread, name="spread", cache_states=True).resume_fits("layers.0", torch.tensor([5, 9]))


@pytest.mark.parametrize("site, module", [("layers.1.attn", "self_attn"), ("layers.2.mlp", "mlp")])
def test_sub_block_sites_read_the_module_output(adapter, tokens, site, module):
    seen: list[torch.Tensor] = []
    part = getattr(adapter.model.model.layers[int(site.split(".")[1])], module)
    handle = part.register_forward_hook(lambda m, args, out: seen.append(out[0] if isinstance(out, tuple) else out))
    try:
        adapter.model(input_ids=tokens)
    finally:
        handle.remove()
    torch.testing.assert_close(adapter.read(site, tokens), seen[0], rtol=0, atol=0)


def test_an_edit_at_an_mlp_changes_the_logits_from_its_position(adapter, tokens):
    p = 5
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, p] = True
    plain = adapter.run(tokens)
    edited = adapter.run(tokens, Intervention("layers.0.mlp", mask, lambda rows, b, pos: rows + 1.0))
    torch.testing.assert_close(edited[:, :p], plain[:, :p], rtol=0, atol=0)
    assert (edited[:, p:] - plain[:, p:]).abs().amax(-1).gt(1e-6).all()
    identity = Intervention("layers.1.attn", mask, lambda rows, b, pos: rows)
    torch.testing.assert_close(adapter.run(tokens, identity), plain, rtol=0, atol=0)


def test_sub_block_sites_run_whole_sequences_with_cached_states(adapter, tokens):
    """Attention and MLP sites are never resumed from: no record, and runs equal an uncached adapter's."""
    cached = HFAdapter(adapter.model, name="tiny-cached", cache_states=True)
    start = torch.tensor([6, 11, 15])
    assert cached.resume_states("layers.0.mlp", tokens, start) is None
    assert not cached.resume_fits("layers.0.attn", start)
    edit = Intervention("layers.0.attn", late_edits(tokens, start)[0], lambda rows, b, p: rows * 0.5)
    torch.testing.assert_close(cached.run(tokens, edit), adapter.run(tokens, edit))
    torch.testing.assert_close(cached.read("layers.0.attn", tokens), adapter.read("layers.0.attn", tokens))


def test_sub_block_sites_are_refused_where_the_module_is_not_found_once(adapter):
    check_config(adapter.model.config, "tiny", "layers.2.attn")
    with pytest.raises(MasError, match="unknown site"):
        check_config(adapter.model.config, "tiny", "layers.0.norm")
    with pytest.raises(MasError, match="beyond the 3 layers"):
        check_config(adapter.model.config, "tiny", "layers.3.mlp")
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=WIDTH, n_layer=1, n_head=4, n_positions=CONTEXT))
    gpt2.transformer.h[0].feed_forward = torch.nn.Identity()  # a second module named like an MLP
    generic = HFAdapter(gpt2, name="gpt2")
    assert generic.sites == ("embed", "layers.0", "layers.0.attn")
    with pytest.raises(MasError, match=r"2 \(mlp, feed_forward\) child of GPT2Block"):
        generic.width("layers.0.mlp")


def test_greedy_continuation_reads_past_keys_and_values(adapter, tokens):
    """The cached continuation writes the same tokens as running the whole sequence for each new one
    (the adapters' shared default), and after the prompt feeds the model one position a step."""
    prompts = tokens[:, :8]
    rerun = ModelAdapter.continue_greedily(adapter, prompts, 20)
    fed: list[int] = []
    handle = adapter._embed.register_forward_hook(lambda module, args, output: fed.append(args[0].shape[1]))
    try:
        cached = adapter.continue_greedily(prompts, 20)
    finally:
        handle.remove()
    assert torch.equal(cached, rerun) and torch.equal(cached[:, :8], prompts)
    assert fed == [8] + [1] * 11
    with pytest.raises(MasError, match=f"exceed the {CONTEXT}-token context"):
        adapter.continue_greedily(prompts, CONTEXT + 1)
