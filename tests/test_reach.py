"""No silent no-ops: a site no written state gets past is refused before training, with one line."""

import pytest
import torch
from torch import nn

from mas.adapters.module import ModuleAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.align.reach import site_reaches_outputs
from mas.errors import MasError
from mas.tasks.pairs import PairSet

VOCAB, LENGTH, WIDTH = 10, 6, 16


class FusedRecall(nn.Module):
    """A fused GRU over the whole sequence, answered from its last state; `after` passes its output on."""

    def __init__(self, kind: type[nn.Module] = nn.GRU) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.rnn = kind(WIDTH, WIDTH, batch_first=True)
        self.after = nn.Identity()
        self.unused = nn.Linear(WIDTH, WIDTH)
        self.readout = nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        self.unused(x)  # computed, never read: a site that reaches nothing
        states = self.after(self.rnn(x)[0])
        return self.readout(states[:, -1])


class SteppedRecall(FusedRecall):
    """The same model with a cell stepped in a loop: a state written at step t feeds step t + 1."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.GRUCell(WIDTH, WIDTH)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(tokens.shape[0], WIDTH)
        for t in range(tokens.shape[1]):
            h = self.cell(self.embed(tokens[:, t]), h)
        return self.readout(h)


def recall_pairs(n: int = 128, position: int = 2) -> PairSet:
    g = torch.Generator().manual_seed(0)
    base, source = (torch.randint(0, VOCAB, (n, LENGTH), generator=g) for _ in range(2))
    labels = torch.full_like(base, -100)
    labels[:, -1] = source[:, 0]
    at = torch.full((n, 1), position)
    return PairSet(source_tokens=source, tokens=base, labels=labels, source_positions=at, target_positions=at)


def fit(module: nn.Module, site: str) -> None:
    pairs = recall_pairs()
    trainer = AlignmentTrainer([ModuleAdapter(module, pairs.tokens[:2])], [site], AlignConfig(k=4, steps=2))
    trainer.fit({(0, 0): pairs}, show_progress=False)


@pytest.mark.parametrize(("kind", "cell"), [(nn.GRU, "nn.GRUCell"), (nn.LSTM, "nn.LSTMCell"), (nn.RNN, "nn.RNNCell")])
def test_a_fused_recurrent_output_is_refused_naming_the_stepped_cell(kind: type[nn.Module], cell: str) -> None:
    with pytest.raises(MasError, match=f"fused {kind.__name__}.*{cell}") as err:
        fit(FusedRecall(kind), "rnn")
    assert "\n" not in str(err.value)
    adapter = ModuleAdapter(FusedRecall(kind), recall_pairs().tokens[:2])
    assert adapter.read("rnn", recall_pairs().tokens).shape == (128, LENGTH, WIDTH)  # reading stays allowed


@pytest.mark.parametrize("site", ["after", "unused"])
def test_a_site_that_reaches_no_scored_output_stops_before_training(site: str) -> None:
    adapter = ModuleAdapter(FusedRecall(), recall_pairs().tokens[:2])
    assert not site_reaches_outputs(adapter, site, recall_pairs())
    with pytest.raises(MasError, match=f"site '{site}'.*changes none of the outputs the pairs score"):
        fit(FusedRecall(), site)


def test_sites_the_answer_depends_on_pass_the_check() -> None:
    stepped = ModuleAdapter(SteppedRecall(), recall_pairs().tokens[:2])
    assert site_reaches_outputs(stepped, "cell", recall_pairs())
    fused = ModuleAdapter(FusedRecall(), recall_pairs().tokens[:2])
    assert site_reaches_outputs(fused, "after", recall_pairs(position=LENGTH - 1))  # the answer reads this state
    fit(SteppedRecall(), "cell")
