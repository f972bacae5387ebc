"""DAS at an attention output of a tiny Llama trained here: the block whose attention moves the
variable to the answer position carries it there, and a site search on the model finds that block."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mas.adapters.hf import HFAdapter
from mas.align import AlignConfig, AlignmentTrainer, Rotations
from mas.evaluate import evaluate_iia
from mas.experiments.site_study import SiteSearch, search_sites
from mas.tasks import ReadThenAnswer
from mas.tasks.pairs import build_pairs
from mas.tasks.sequences import IGNORE, sample_sequences
from mas.threads import using_threads
from tiny_lm import tiny_llama


class RecallLast(ReadThenAnswer):
    """Read up to five digits, answer the last one; intervened only at the separator, where a
    transformer must already have fetched the digit from the position before."""

    name = "recall_last"
    input_tokens = answer_tokens = tuple("012345")
    max_inputs = 5
    ranges = {"last": (0, 5)}

    def start(self) -> dict[str, int]:
        return {"last": 0}

    def read(self, state: dict[str, int], token: str) -> dict[str, int]:
        return {"last": int(token)}

    def answer(self, state: dict[str, int]) -> list[str]:
        return [str(state["last"])]

    def intervenable(self, tokens: list[int], position: int) -> bool:
        return position == self.size(tokens) + 1


TASK = RecallLast()


@pytest.fixture(scope="module")
@using_threads(1)  # a width-32 model gains nothing from more, and on a busy machine loses much
def recall_llama() -> HFAdapter:
    """A two-block Llama taught the task by next-token loss on its answer positions."""
    torch.manual_seed(0)
    model = tiny_llama(TASK.vocab_size, width=32, layers=2, kv_heads=4, context=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(300):
        batch = sample_sequences(TASK, rng, 64)
        logits = model(input_ids=batch.tokens).logits
        loss = F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    held_out = sample_sequences(TASK, np.random.default_rng(9), 300)
    with torch.no_grad():
        predicted = model(input_ids=held_out.tokens).logits.argmax(-1)
    assert ((predicted == held_out.labels) | ~held_out.task_mask).all(1).float().mean() >= 0.99
    return HFAdapter(model, name="recall-llama")


@using_threads(1)
def test_das_at_an_attention_output_finds_the_fetched_digit(recall_llama: HFAdapter) -> None:
    adapter = recall_llama
    train, test = (build_pairs(TASK, TASK, n, {"last": "last"}, seed=s) for n, s in ((1024, 20), (300, 21)))
    scores = {}
    for site in ("layers.0.attn", "layers.1.attn"):
        trainer = AlignmentTrainer([adapter], [site], AlignConfig(k=4, steps=300, eval_every=100))
        fit = trainer.fit({(0, 0): train}, show_progress=False)
        scores[site] = evaluate_iia(trainer, fit.rotations, {(0, 0): test}, free_running=False)[(0, 0)].trial
    control = evaluate_iia(trainer, Rotations(trainer.widths, seed=10_000), {(0, 0): test}, free_running=False)
    # The first block's attention fetches the digit; the second's has nothing left to move.
    assert scores["layers.0.attn"] >= 0.8 and control[(0, 0)].trial <= 0.1, (scores, control)
    assert scores["layers.1.attn"] <= scores["layers.0.attn"] - 0.5, scores


@using_threads(1)
def test_a_site_search_on_the_language_model_picks_the_fetching_attention(recall_llama: HFAdapter) -> None:
    search = SiteSearch(variable="last", sites=["layers.0.attn", "layers.1.attn"], modes=["single"], ks=[4],
                        train_pairs=1024, validation_pairs=256, test_pairs=300, free_running=False)
    found = search_sites([recall_llama], TASK, search, log=lambda line: None)
    assert (found["chosen"]["site"], found["chosen"]["test_iia"] >= 0.8) == ("layers.0.attn", True), found["rows"]
