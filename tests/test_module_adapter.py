"""ModuleAdapter: any nn.Module, sites named by module path, tuples and dicts, loops stepped per position."""

import pytest
import torch
from torch import nn

from mas.adapters import Intervention, TaskModelAdapter
from mas.adapters.hf import HFAdapter
from mas.adapters.module import ModuleAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.errors import MasError
from mas.evaluate import evaluate_iia, random_rotation_control
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs
from tiny_lm import tiny_llama

TASK = MultiObject(max_count=8)


def logits_only(module: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    return module(tokens)[0]


def plain_module(adapter: TaskModelAdapter) -> ModuleAdapter:
    """A trained task GRU seen as an arbitrary module: its cell runs once per position."""
    example = build_pairs(TASK, TASK, 1, {"count": "count"}).tokens
    return ModuleAdapter(adapter.model, example, logits_only, name=adapter.name)


def test_a_cell_stepped_by_a_loop_is_one_position_per_call(tiny_grus: list[TaskModelAdapter]) -> None:
    generic = plain_module(tiny_grus[0])
    tokens = build_pairs(TASK, TASK, 16, {"count": "count"}, seed=5).tokens
    torch.testing.assert_close(generic.read("cell", tokens), tiny_grus[0].read("hidden", tokens))
    torch.testing.assert_close(generic.read("embed", tokens), tiny_grus[0].read("embed", tokens))
    assert generic.width("cell") == tiny_grus[0].width("hidden")
    assert "readout.0" in generic.sites and generic.read("readout.0", tokens).shape[:2] == tokens.shape


def test_das_on_a_plain_module_finds_the_count(tiny_grus: list[TaskModelAdapter]) -> None:
    generic = [plain_module(tiny_grus[0])]
    train, test = (build_pairs(TASK, TASK, n, {"count": "count"}, seed=s) for n, s in ((2048, 20), (300, 21)))
    trainer = AlignmentTrainer(generic, ["cell"], AlignConfig(k=8, steps=300, eval_every=100))
    fit = trainer.fit({(0, 0): train}, show_progress=False)
    iia = evaluate_iia(trainer, fit.rotations, {(0, 0): test})[(0, 0)]
    control = random_rotation_control(trainer, {(0, 0): test})[(0, 0)]
    assert iia.trial >= 0.75 and control.trial <= 0.2, (iia, control)


def test_tuple_outputs_match_the_language_model_adapter() -> None:
    llama = tiny_llama(40, layers=2, kv_heads=2)
    tokens = torch.randint(0, 40, (3, 12), generator=torch.Generator().manual_seed(0))
    hf = HFAdapter(llama, name="tiny")
    generic = ModuleAdapter(llama, tokens, lambda m, x: m(input_ids=x).logits)
    torch.testing.assert_close(generic.read("model.layers.1", tokens), hf.read("layers.1", tokens))
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, 4] = True
    shift = Intervention("model.layers.0", mask, lambda rows, batch, pos: rows + 1.0)
    expected = hf.run(tokens, Intervention("layers.0", mask, shift.edit))
    torch.testing.assert_close(generic.run(tokens, shift), expected)
    assert not torch.allclose(generic.run(tokens, shift), generic.run(tokens))


class DictBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> dict:
        return {"hidden": self.linear(x), "norm": x.norm(dim=-1)}


class Answerer(nn.Module):
    """Reads a (B, 6) vector and answers once: one state and one set of logits per row."""

    def __init__(self) -> None:
        super().__init__()
        self.block, self.head = DictBlock(), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.block(x)["hidden"]))


def test_dict_outputs_and_single_answers() -> None:
    model = Answerer()
    x = torch.randn(4, 6)
    adapter = ModuleAdapter(model, x)
    assert adapter.width("block:hidden") == 5 and adapter.read("block:hidden", x).shape == (4, 1, 5)
    logits = adapter.run(x)
    assert logits.shape == (4, 6, 3)
    torch.testing.assert_close(logits[:, -1], model(x))
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[1, 0] = True
    edited = adapter.run(x, Intervention("block:hidden", mask, lambda rows, batch, pos: rows * 0 + 9.0))
    assert torch.equal(edited[[0, 2, 3], -1], logits[[0, 2, 3], -1]) and not torch.equal(edited[1], logits[1])
    for site, message in [("block", "returns a dict"), ("block:nope", "no entry"), ("nowhere", "no submodule"),
                          ("head:0", "single tensor")]:
        with pytest.raises(MasError, match=message):
            adapter.read(site, x)
