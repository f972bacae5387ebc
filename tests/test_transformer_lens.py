"""TransformerLensAdapter: a TransformerLens model used as it is, its hook names as sites."""

import pytest
import torch

from copy_task import VOCAB, copy_pairs, train_copy
from mas.adapters import Intervention
from mas.align import AlignConfig, AlignmentTrainer
from mas.errors import MasError
from mas.evaluate import evaluate_iia, random_rotation_control

bridge = pytest.importorskip("transformer_lens.model_bridge")
from mas.adapters.transformer_lens import TransformerLensAdapter


@pytest.fixture(scope="module")
def trained() -> TransformerLensAdapter:
    from transformer_lens.config import TransformerBridgeConfig

    config = TransformerBridgeConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=VOCAB, d_mlp=64,
                                     act_fn="relu", seed=0)
    model = bridge.TransformerBridge.boot_native(config)
    accuracy = train_copy(model, model.parameters())
    assert accuracy >= 0.95, accuracy
    return TransformerLensAdapter(model, name="tl-copy")


def test_hook_names_are_sites_and_states_match_the_cache(trained: TransformerLensAdapter) -> None:
    tokens = copy_pairs(8, seed=3).tokens
    _, cache = trained.model.run_with_cache(tokens)
    assert "blocks.0.hook_out" in trained.sites and trained.width("blocks.0.hook_out") == 32
    torch.testing.assert_close(trained.read("blocks.0.hook_out", tokens), cache["blocks.0.hook_out"])
    mask = torch.zeros(tokens.shape, dtype=torch.bool)
    mask[:, 0] = True
    zeroed = trained.run(tokens, Intervention("blocks.0.hook_out", mask, lambda rows, batch, pos: rows * 0))
    assert not torch.allclose(zeroed, trained.run(tokens))
    with pytest.raises(MasError, match="unknown site"):
        trained.read("blocks.9.hook_out", tokens)


def test_das_finds_the_first_token_and_untrained_rotations_do_not(trained: TransformerLensAdapter) -> None:
    train, test = copy_pairs(2048, seed=1), copy_pairs(400, seed=2)
    trainer = AlignmentTrainer([trained], ["blocks.0.hook_out"], AlignConfig(k=16, steps=200, lr=1e-2, eval_every=100))
    fit = trainer.fit({(0, 0): train}, show_progress=False)
    iia = evaluate_iia(trainer, fit.rotations, {(0, 0): test}, free_running=False)[(0, 0)]
    control = random_rotation_control(trainer, {(0, 0): test})[(0, 0)]
    assert iia.trial >= 0.9 and control.trial <= iia.trial - 0.5, (iia, control)
