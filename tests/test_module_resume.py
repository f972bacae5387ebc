"""A module that offers one step at a time is resumed from recorded states, with the same outputs."""

import torch
from torch import nn

from mas.adapters import TaskModelAdapter
from mas.adapters.module import ModuleAdapter, SteppedModule
from mas.align import AlignConfig, AlignmentTrainer
from mas.models import GRUModel
from mas.tasks import MultiObject
from mas.tasks.pairs import IGNORE, build_pairs

TASK = MultiObject(max_count=8)


class Looped(nn.Module):
    """A GRU cell stepped in a loop; with `state_site` it is also a `SteppedModule`."""

    def __init__(self, model: GRUModel) -> None:
        super().__init__()
        self.embed, self.cell, self.head = model.embed, model.cell, model.readout

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, states = self.initial_state(tokens.shape[0]), []
        for t in range(tokens.shape[1]):
            h = self.step(tokens[:, t], h)
            states.append(h)
        return self.readout(torch.stack(states, 1))

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.cell.hidden_size)

    def step(self, token: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.cell(self.embed(token), state)

    def readout(self, state: torch.Tensor) -> torch.Tensor:
        return self.head(state)


class Stepped(Looped):
    state_site = "cell"


def test_resumed_runs_match_whole_sequences_and_the_built_in_adapter() -> None:
    torch.manual_seed(0)
    model = GRUModel(TASK.vocab_size, width=24, embed_width=24)
    pairs = build_pairs(TASK, TASK, 96, {"count": "count"}, seed=3)
    stepped = ModuleAdapter(Stepped(model), pairs.tokens[:2])
    plain = ModuleAdapter(Looped(model), pairs.tokens[:2])
    assert isinstance(stepped.module, SteppedModule) and not isinstance(plain.module, SteppedModule)
    config = AlignConfig(k=4)
    trainers = [AlignmentTrainer([a], [site], config) for a, site in
                ((stepped, "cell"), (plain, "cell"), (TaskModelAdapter(model), "hidden"))]
    assert trainers[0].resume_point(0, pairs) is not None and trainers[1].resume_point(0, pairs) is None
    maps = trainers[0].new_maps(seed=5)
    scored = pairs.labels != IGNORE
    outputs = []
    for trainer in trainers:
        logits = trainer.forward(maps.matrices(), 0, {(0, 0): pairs}, {(0, 0): slice(None)})[0]
        outputs.append(logits[scored])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs[0], outputs[2], rtol=1e-5, atol=1e-5)


def test_gradients_reach_the_rotation_through_a_resumed_run() -> None:
    torch.manual_seed(1)
    model = GRUModel(TASK.vocab_size, width=16, embed_width=16)
    pairs = build_pairs(TASK, TASK, 32, {"count": "count"}, seed=4)
    trainer = AlignmentTrainer([ModuleAdapter(Stepped(model), pairs.tokens[:2])], ["cell"], AlignConfig(k=4))
    maps = trainer.new_maps()
    logits, labels, _ = trainer.forward(maps.matrices(), 0, {(0, 0): pairs}, {(0, 0): slice(None)})
    nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in maps.parameters())
