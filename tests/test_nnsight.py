"""NNsightAdapter: a model wrapped by nnsight, its module paths as sites."""

import pytest
import torch

from copy_task import VOCAB, copy_pairs, train_copy
from mas.adapters import Intervention
from mas.adapters.hf import HFAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.errors import MasError
from mas.evaluate import evaluate_iia, random_rotation_control
from tiny_lm import tiny_llama

nnsight = pytest.importorskip("nnsight")
from mas.adapters.nnsight import NNsightAdapter


@pytest.fixture(scope="module")
def trained() -> NNsightAdapter:
    model = tiny_llama(VOCAB, seed=0)
    accuracy = train_copy(lambda x: model(input_ids=x).logits, model.parameters())
    assert accuracy >= 0.95, accuracy
    return NNsightAdapter(nnsight.NNsight(model), outputs=lambda out: out.logits, name="nnsight-copy")


def test_module_paths_are_sites_and_match_the_hugging_face_adapter(trained: NNsightAdapter) -> None:
    tokens = copy_pairs(8, seed=3).tokens
    hf = HFAdapter(trained.module, name="hf")
    assert "model.layers.1.mlp" in trained.sites and trained.width("model.layers.0") == 32
    torch.testing.assert_close(trained.read("model.layers.0", tokens), hf.read("layers.0", tokens))
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, 1] = True
    shift = Intervention("model.layers.0", mask, lambda rows, batch, pos: rows + 1.0)
    torch.testing.assert_close(trained.run(tokens, shift), hf.run(tokens, Intervention("layers.0", mask, shift.edit)))
    with pytest.raises(MasError, match="no submodule"):
        trained.read("model.layers.7", tokens)


def test_das_finds_the_first_token_and_untrained_rotations_do_not(trained: NNsightAdapter) -> None:
    train, test = copy_pairs(2048, seed=1), copy_pairs(400, seed=2)
    trainer = AlignmentTrainer([trained], ["model.layers.0"], AlignConfig(k=16, steps=200, lr=1e-2, eval_every=100))
    fit = trainer.fit({(0, 0): train}, show_progress=False)
    iia = evaluate_iia(trainer, fit.rotations, {(0, 0): test}, free_running=False)[(0, 0)]
    control = random_rotation_control(trainer, {(0, 0): test})[(0, 0)]
    assert iia.trial >= 0.9 and control.trial <= iia.trial - 0.5, (iia, control)
