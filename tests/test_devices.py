"""Models on different devices: each model's map, edits and losses stay where its site is.

CUDA refuses any kernel whose inputs lie on two devices; torch lets `meta` and CPU tensors mix. So on
a machine without a GPU one model lives on `meta` (shapes flow, no values) and every op is checked
as CUDA would check it. Tests that need real GPUs are marked `cuda` and skipped without one.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from mas.adapters import ModelAdapter, TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, LinearStitch, attach_latents, record_latents
from mas.devices import model_device, parse_devices, resolve_device, using_devices
from mas.errors import MasError
from mas.evaluate import evaluate_iia
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs
from test_cli import assert_one_line_error, run

TASK = MultiObject(max_count=8)
MAPPING = {"count": "count"}
# Ops that may take tensors of two devices on CUDA too: explicit moves, and indexing by CPU indices.
CROSSING = {torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.copy_, torch.Tensor.__getitem__,
            torch.Tensor.__setitem__, torch.Tensor.index_put, torch.Tensor.index_put_}


class OneDevicePerOp(TorchFunctionMode):
    """Refuse, as CUDA kernels do, an op whose tensor inputs (other than 0-d scalars) lie on two devices."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func not in CROSSING:
            devices = {t.device for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and t.dim()}
            if len(devices) > 1:
                raise RuntimeError(f"{getattr(func, '__name__', func)} got tensors on {sorted(map(str, devices))}")
        return func(*args, **kwargs)


class MetaModel(ModelAdapter):
    """An embedding and a readout whose weights live on `meta`; checks that all it is given is there."""

    name = "meta-model"

    def __init__(self, vocab_size: int, width: int) -> None:
        self.embed = nn.Embedding(vocab_size, width, device="meta")
        self.head = nn.Linear(width, vocab_size, device="meta")

    @property
    def sites(self) -> tuple[str, ...]:
        return ("hidden",)

    @property
    def device(self) -> torch.device:
        return torch.device("meta")

    def width(self, site: str) -> int:
        self.check_site(site)
        return self.embed.embedding_dim

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        assert tokens.device == self.device, tokens.device
        return self.embed(tokens)

    def read(self, site: str, tokens: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        return self.capture(site, tokens.to(self.device))  # meta states have no values to check

    def run(self, tokens, intervention=None, feed_mask=None, output_mask=None, resume=None):  # type: ignore[no-untyped-def]
        hidden = self.capture("hidden", tokens)
        if intervention is not None:
            batch, pos = (i.to(self.device) for i in intervention.mask.nonzero(as_tuple=True))  # no meta nonzero
            written = intervention.edit(hidden[batch, pos], batch, pos)
            assert written.device == self.device, written.device
            hidden = hidden.index_put((batch, pos), written)
        return self.head(hidden)


@pytest.fixture()
def cpu_and_meta(tiny_grus: list[TaskModelAdapter]) -> list[ModelAdapter]:
    return [tiny_grus[0], MetaModel(TASK.vocab_size, tiny_grus[0].width("hidden"))]


def objective_on_devices(trainer: AlignmentTrainer, train: dict, latents: dict | None = None) -> torch.Tensor:
    maps = trainer.new_maps()
    with OneDevicePerOp(), parametrize.cached():
        return trainer.objective(maps.matrices(), train, latents or {}, torch.Generator().manual_seed(0))


def test_each_rotation_lives_with_its_model_and_mas_runs_across_devices(cpu_and_meta: list[ModelAdapter]) -> None:
    pairs = build_pairs(TASK, TASK, 64, MAPPING, seed=0)
    trainer = AlignmentTrainer(cpu_and_meta, ["hidden"] * 2, AlignConfig(k=8, batch_size=16))
    maps = trainer.new_maps()
    assert [layer.weight.device.type for layer in maps.layers] == ["cpu", "meta"]
    loss = objective_on_devices(trainer, {(0, 1): pairs, (1, 1): pairs})
    assert loss.device.type == "meta" and loss.shape == ()


def test_stitches_and_counterfactual_latents_cross_devices(cpu_and_meta: list[ModelAdapter]) -> None:
    pairs = build_pairs(TASK, TASK, 64, MAPPING, seed=1)
    stitcher = AlignmentTrainer(cpu_and_meta, ["hidden"] * 2, AlignConfig(batch_size=16), LinearStitch(((0, 1),)))
    assert objective_on_devices(stitcher, {(0, 1): pairs}).device.type == "meta"
    bank = record_latents(cpu_and_meta[1], "hidden", TASK, n_sequences=50, seed=0)
    latents = attach_latents(pairs, bank, TASK, TASK, MAPPING)
    trainer = AlignmentTrainer(cpu_and_meta, ["hidden"] * 2, AlignConfig(k=8, batch_size=16))
    assert objective_on_devices(trainer, {}, {(0, 1): latents}).device.type == "meta"


def test_the_strict_check_catches_a_rotation_left_on_the_wrong_device(cpu_and_meta: list[ModelAdapter]) -> None:
    """The control: a map built but never placed (as before placement existed) is refused."""
    pairs = build_pairs(TASK, TASK, 64, MAPPING, seed=2)
    trainer = AlignmentTrainer(cpu_and_meta, ["hidden"] * 2, AlignConfig(k=8, batch_size=16))
    unplaced = trainer.site_map.build(trainer.widths, seed=0)
    with OneDevicePerOp(), parametrize.cached(), pytest.raises(RuntimeError, match="meta"):
        trainer.objective(unplaced.matrices(), {(1, 1): pairs}, {}, torch.Generator().manual_seed(0))


def test_device_choice_parses_and_refuses_what_is_not_there() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with using_devices("cpu,meta"):
        assert [model_device(i).type for i in range(3)] == ["cpu", "meta", "meta"]
    assert model_device(0) == resolve_device("auto")
    with pytest.raises(MasError, match="unknown device"):
        parse_devices("tpu:x")
    if not torch.cuda.is_available():
        with pytest.raises(MasError, match="no CUDA device"):
            parse_devices("cpu,cuda:0")


def test_device_option_is_shared_by_every_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(run("models", "--device", "gpu0"), "unknown device")
    assert "--device" in run("figure", "2c", "--help").output and "--quiet" in run("align", "--help").output


@pytest.mark.cuda
def test_mas_between_a_gpu_model_and_a_cpu_model(tiny_gru_folders) -> None:  # type: ignore[no-untyped-def]
    """One GRU on cuda:0, one on the CPU: every direction trains and scores as on one device."""
    from mas.experiments.alignment import load_task_models

    with using_devices("cuda:0,cpu"):
        adapters, _ = load_task_models(tiny_gru_folders)
    assert [a.device.type for a in adapters] == ["cuda", "cpu"]
    train, test = build_pairs(TASK, TASK, 2048, MAPPING, seed=7), build_pairs(TASK, TASK, 512, MAPPING, seed=8)
    directions = [(0, 0), (0, 1), (1, 0), (1, 1)]
    trainer = AlignmentTrainer(adapters, ["hidden"] * 2, AlignConfig(k=16, steps=300, eval_every=300))
    fit = trainer.fit({d: train for d in directions}, show_progress=False)
    assert [layer.weight.device.type for layer in fit.rotations.layers] == ["cuda", "cpu"]
    scores = evaluate_iia(trainer, fit.rotations, {d: test for d in directions})
    assert min(s.trial for s in scores.values()) >= 0.8, scores
