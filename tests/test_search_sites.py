"""Site search on any adapter: DAS per module path of a plain module names the site that carries the count."""

import pytest
import torch

from mas.adapters import TaskModelAdapter
from mas.adapters.module import ModuleAdapter
from mas.align.reach import site_reaches_outputs
from mas.errors import MasError
from mas.experiments.site_study import SiteSearch, search_sites
from mas.tasks import MultiObject
from mas.tasks.pairs import PairSet, build_pairs
from tiny_lm import tiny_llama

TASK = MultiObject(max_count=8)


def plain(adapter: TaskModelAdapter) -> ModuleAdapter:
    example = build_pairs(TASK, TASK, 1, {"count": "count"}).tokens
    return ModuleAdapter(adapter.model, example, lambda m, x: m(x)[0], name=adapter.name)


def test_search_over_module_paths_chooses_the_recurrent_state(tiny_grus: list[TaskModelAdapter]) -> None:
    search = SiteSearch(sites=["embed", "cell"], modes=["single"], ks=[8], steps=200, train_pairs=1024,
                        validation_pairs=200, test_pairs=300)
    found = search_sites([plain(tiny_grus[0])], TASK, search)
    by_site = {row["site"]: row for row in found["rows"]}
    assert found["chosen"]["site"] == "cell", found["summary"]
    assert by_site["cell"]["test_iia"] >= 0.75 and by_site["embed"]["test_iia"] <= 0.3, found["rows"]


def test_a_missing_variable_or_unknown_path_fails_before_training(tiny_grus: list[TaskModelAdapter]) -> None:
    model = plain(tiny_grus[0])
    with pytest.raises(MasError, match="has no variable 'colour'"):
        search_sites([model], TASK, SiteSearch(variable="colour", sites=["cell"], ks=[4]))
    with pytest.raises(MasError, match="no submodule 'decoder'"):
        search_sites([model], TASK, SiteSearch(sites=["decoder"], ks=[4]))
    with pytest.raises(MasError, match="wider than a site"):
        search_sites([model], TASK, SiteSearch(sites=["cell"], ks=[4096]))


def test_attention_and_mlp_outputs_of_a_language_model_are_sites() -> None:
    """A Hugging Face model in a ModuleAdapter: each block's attention and MLP output is read and written."""
    llama = tiny_llama(40, layers=2, kv_heads=2)
    tokens = torch.randint(3, 40, (16, 10), generator=torch.Generator().manual_seed(0))
    adapter = ModuleAdapter(llama, tokens[:2], lambda m, x: m(input_ids=x).logits, name="tiny")
    labels = torch.full_like(tokens, -100)
    labels[:, -1] = 5
    at = torch.full((16, 1), 6)
    pairs = PairSet(source_tokens=tokens.flip(0), tokens=tokens, labels=labels, source_positions=at,
                    target_positions=at)
    for site in ("model.embed_tokens", "model.layers.0.self_attn", "model.layers.0.mlp", "model.layers.1.self_attn",
                 "model.layers.1.mlp"):
        assert adapter.read(site, tokens).shape == (16, 10, llama.config.hidden_size)
    for site in ("model.embed_tokens", "model.layers.0.self_attn", "model.layers.0.mlp"):
        assert site_reaches_outputs(adapter, site, pairs), site
    # The last block's outputs at position 6 are read by no later attention: position 9's answer cannot see them.
    for site in ("model.layers.1.self_attn", "model.layers.1.mlp"):
        assert not site_reaches_outputs(adapter, site, pairs), site
