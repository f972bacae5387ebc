"""Running a target only from each pair's first changed position gives the logits of a whole run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mas.adapters import Intervention, TaskModelAdapter
from mas.adapters.resume import Resume, first_true
from mas.align import AlignConfig, AlignmentTrainer, all_directions
from mas.evaluate import evaluate_iia
from mas.models import GRUModel, TransformerModel
from mas.tasks import MultiObject
from mas.tasks.pairs import IGNORE, build_pairs

VOCAB, BATCH, LENGTH, WIDTH = 11, 48, 24, 32


def random_case(seed: int, stepwise: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens, an edit mask (one position per row anywhere in it, or a run 0..t), scored positions
    from each row's last edit on, and the source rows written."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, VOCAB, (BATCH, LENGTH), generator=g)
    at = torch.randint(0, LENGTH, (BATCH,), generator=g)
    at[:3] = torch.tensor([0, LENGTH - 1, 1])  # the first and the last position are covered
    positions = torch.arange(LENGTH)
    mask = (positions <= at[:, None]) if stepwise else (positions == at[:, None])
    scored = (positions >= at[:, None]) & (torch.rand(BATCH, LENGTH, generator=g) < 0.6)
    scored[torch.arange(BATCH), at] = True
    return tokens, mask, scored, torch.randn(BATCH, LENGTH, WIDTH, generator=g)


def edit_from(source: torch.Tensor):  # type: ignore[no-untyped-def]
    return lambda rows, batch, pos: 0.5 * rows + source[batch, pos]


@pytest.mark.parametrize("site", ["embed", "hidden"])
@pytest.mark.parametrize("stepwise", [False, True])
@pytest.mark.parametrize("mode", ["teacher-forced", "fused", "free-running"])
def test_gru_resume_equals_whole_run(site: str, stepwise: bool, mode: str) -> None:
    torch.manual_seed(0)
    model = GRUModel(VOCAB, width=WIDTH, embed_width=WIDTH, readout_width=64).eval().requires_grad_(False)
    tokens, mask, scored, source = random_case(1, stepwise)
    intervention = Intervention(site, mask, edit_from(source))
    feed = scored if mode == "free-running" else None
    whole = model(tokens, intervention, feed, output_mask=None if feed is not None else scored)[0]
    start = first_true(mask | scored)
    resumed = model.resume(
        tokens, Resume(start, model.resume_states(site, tokens, start)), intervention, feed, scored, fused=mode == "fused"
    )
    torch.testing.assert_close(resumed[scored], whole[scored], rtol=1e-5, atol=1e-5)
    assert (resumed[~scored] == 0).all()


def transformer_case(seed: int, site: str, stepwise: bool):  # type: ignore[no-untyped-def]
    """A small frozen transformer, and a random case with its intervention at `site`."""
    torch.manual_seed(0)
    model = TransformerModel(VOCAB, width=WIDTH, heads=4, ff_width=64).eval().requires_grad_(False)
    tokens, mask, scored, source = random_case(seed, stepwise)
    return model, tokens, mask, scored, Intervention(site, mask, edit_from(source))


@pytest.mark.parametrize("site", ["embed", "layers.0", "layers.1"])
@pytest.mark.parametrize("stepwise", [False, True])
@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
def test_transformer_resume_equals_whole_run(site: str, stepwise: bool, grad: bool) -> None:
    """Scored positions anywhere after each row's start, so the top block queries a scattered subset."""
    model, tokens, mask, scored, intervention = transformer_case(2, site, stepwise)
    whole = model(tokens, intervention)[0]
    start = first_true(mask | scored)
    with torch.set_grad_enabled(grad):
        resumed = model.resume(tokens, Resume(start, model.resume_states(site, tokens, start)), intervention, None, scored)
    torch.testing.assert_close(resumed[scored], whole[scored], rtol=1e-5, atol=1e-5)
    # Positions before a row's start read the frozen prefix's keys and values; they are not run again.
    before = torch.arange(LENGTH) < start[:, None]
    assert (before.any() or stepwise) and (resumed[before] == 0).all()


def test_transformer_resume_leaves_rows_without_scored_positions_zero() -> None:
    """Rows that need no logits run no positions; the others still match a whole run, whatever
    attention groups the mix of lengths makes (one row of every length, then many of one length)."""
    model, tokens, mask, scored, intervention = transformer_case(4, "layers.0", stepwise=False)
    scored[5:9] = False
    scored[20:] = scored[20]  # many rows of the same length share a group
    whole = model(tokens, intervention)[0]
    start = first_true(mask | scored)
    resumed = model.resume(tokens, Resume(start, model.resume_states("layers.0", tokens, start)), intervention, None, scored)
    torch.testing.assert_close(resumed[scored], whole[scored], rtol=1e-5, atol=1e-5)
    assert (resumed[5:9] == 0).all()
    # A batch that needs no logits at all runs nothing.
    nothing = torch.zeros_like(scored)
    empty = model.resume(tokens, Resume(start, model.resume_states("layers.0", tokens, start)), intervention, None, nothing)
    assert empty.shape == whole.shape and (empty == 0).all()


def growing_prefix_run(model: TransformerModel, tokens: torch.Tensor, intervention: Intervention,
                       feed: torch.Tensor) -> torch.Tensor:
    """Free-running the plain way: the whole prefix again for every fed position."""
    tokens = tokens.clone()
    for i in range(tokens.shape[1] - 1):
        step = model(tokens[:, : i + 1], intervention)[0][:, i].argmax(-1)
        tokens[:, i + 1] = torch.where(feed[:, i], step, tokens[:, i + 1])
    return model(tokens, intervention)[0]


@pytest.mark.parametrize("site", ["embed", "layers.0", "layers.1"])
@pytest.mark.parametrize("stepwise", [False, True])
@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
def test_transformer_free_run_from_cached_keys_equals_rereading_the_prefix(site: str, stepwise: bool, grad: bool) -> None:
    """Without autograd the key/value buffers are written in place; with it, copied. Both decode alike."""
    model, tokens, _, scored, intervention = transformer_case(3, site, stepwise)
    with torch.set_grad_enabled(grad):
        cached = model(tokens, intervention, feed_mask=scored)[0]
    plain = growing_prefix_run(model, tokens, intervention, scored)
    torch.testing.assert_close(cached, plain, rtol=1e-5, atol=1e-5)
    # The fed tokens were the model's own: at least some differ from the given ones.
    assert (cached.argmax(-1)[:, :-1][scored[:, :-1]] != tokens[:, 1:][scored[:, :-1]]).any()


class WholeRuns(TaskModelAdapter):
    """The same model, always run over whole sequences."""

    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> None:
        return None


def model_of(arch: str, vocab: int) -> nn.Module:
    torch.manual_seed(3)
    return GRUModel(vocab, width=WIDTH, embed_width=WIDTH) if arch == "gru" else TransformerModel(vocab, width=WIDTH)


@pytest.mark.parametrize(("arch", "site"), [("gru", "hidden"), ("gru", "embed"), ("transformer", "layers.0"), ("transformer", "embed")])
@pytest.mark.parametrize("mode", ["single", "stepwise"])
def test_trainer_logits_and_gradients_match_whole_runs(arch: str, site: str, mode: str) -> None:
    """Every direction of a MAS step, on real pairs: the same logits, gradient and free-running IIA."""
    task = MultiObject(max_count=8)
    pairs = build_pairs(task, task, 96, {"count": "count"}, mode=mode, seed=4)
    model = model_of(arch, task.vocab_size)
    fast, slow = TaskModelAdapter(model), WholeRuns(model)
    config = AlignConfig(k=8, batch_size=32)
    trainers = [AlignmentTrainer([a, a], [site, site], config) for a in (fast, slow)]
    maps = trainers[0].new_maps()
    directions = all_directions(2)
    runs = []
    for trainer in trainers:
        maps.zero_grad()
        mats = maps.matrices()
        scored_logits = []
        for target in (0, 1):
            into = {d: pairs for d in directions if d[1] == target}
            logits, labels, _ = trainer.forward(mats, target, into, {d: slice(None) for d in into})
            scored_logits.append(logits[labels != IGNORE])
        sum(x.logsumexp(-1).sum() for x in scored_logits).backward()
        gradient = torch.cat([p.grad.flatten() for p in maps.parameters()])
        runs.append((*scored_logits, gradient, evaluate_iia(trainer, maps, {d: pairs for d in directions})))
    for fast_value, slow_value in zip(*runs):
        if isinstance(fast_value, torch.Tensor):
            torch.testing.assert_close(fast_value, slow_value, rtol=1e-4, atol=1e-5)
        else:
            assert fast_value == slow_value


def test_resume_rows_from_one_table_stay_views_and_mixed_tables_are_gathered() -> None:
    g = torch.Generator().manual_seed(5)
    table, other = torch.randn(10, 6, 4, generator=g), torch.randn(7, 5, 4, generator=g)
    first = Resume(torch.arange(10), table).subset(torch.tensor([3, 1, 3]))
    second = Resume(torch.arange(10), table).subset(torch.tensor([0, 9]))
    shared = Resume.cat([first, second], 6)
    assert shared.states is table and shared.rows.tolist() == [3, 1, 3, 0, 9]
    torch.testing.assert_close(shared.row_states(), table[[3, 1, 3, 0, 9]])
    assert shared.start.tolist() == [3, 1, 3, 0, 9]
    mixed = Resume.cat([first, Resume(torch.arange(7), other).subset(torch.tensor([6]))], 6)
    assert mixed.rows is None and mixed.states.shape == (4, 6, 4)
    torch.testing.assert_close(mixed.row_states()[:3], table[[3, 1, 3]])
    torch.testing.assert_close(mixed.row_states()[3, :5], other[6])
    assert (mixed.row_states()[3, 5:] == 0).all()
