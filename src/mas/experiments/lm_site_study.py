"""Where does a language model carry what a pair file asks for? DAS per site and k on the file's pairs.

The same study as `mas site-study` (one DAS run per setting, chosen on validation, scored once on
held-out pairs), for any Hugging Face causal LM: the sites are the embeddings, each block's output
and its attention and MLP outputs, and the counterfactual pairs come from a JSONL pair file
(`mas.lm.pair_files`) split into disjoint training, validation and test pairs. Each finished DAS
run is kept in `<out>.parts/`, so an interrupted study redoes only the runs that had not finished.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from mas.adapters import ModelAdapter
from mas.errors import MasError
from mas.experiments.das import DasBudget
from mas.experiments.site_study import StudyPairs, search_sites_on_pairs, write_study
from mas.io import cached_result
from mas.lm.pair_files import pair_sets_from_file, read_pair_file

if TYPE_CHECKING:  # the HF stack loads only when a study runs, so the CLI starts fast
    from mas.adapters.hf import HFAdapter

SCHEME = "file"  # the pair file fixes the positions swapped: the study's one scheme


class LMSiteStudyConfig(DasBudget):
    """A causal LM, a pair file, the sites and k's to try and the DAS budget per setting."""

    model: str = Field(description="Hugging Face id, local folder or .gguf file")
    pairs: Path = Field(description="JSONL pair file: base, source, expected (and positions)")
    sites: list[str] | None = Field(None, description="default: embed, then each block with its attention and MLP")
    ks: list[int] = Field(default_factory=lambda: [16, 64], min_length=1)
    steps: int = Field(200, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, ge=1)
    train_pairs: int = Field(256, ge=1)
    validation_pairs: int = Field(64, ge=1)
    test_pairs: int = Field(64, ge=1)
    dtype: str | None = Field(None, description="model dtype (default float32 on CPU, bfloat16 on GPU)")


def preflight(cfg: LMSiteStudyConfig) -> None:
    """Refuse a bad pair file or a site beyond the model's blocks from the file and the config alone."""
    from mas.adapters.hf import check_config, load_config

    read_pair_file(cfg.pairs)
    config = load_config(cfg.model)
    for site in cfg.sites or []:
        check_config(config, cfg.model, site)
    if max(cfg.ks) > config.hidden_size:
        raise MasError(f"k = {max(cfg.ks)} is larger than the width ({config.hidden_size}) of model {cfg.model}")


def split_pair_file(cfg: LMSiteStudyConfig, tokenizer: object) -> StudyPairs:
    """Disjoint training, validation and test pairs of the file (60/20/20, shuffled with the seed),
    each capped at its configured count."""
    specs = read_pair_file(cfg.pairs)
    if len(specs) < 3:
        raise MasError(f"{cfg.pairs} has {len(specs)} pairs; the study needs at least 3 (train, validation, test)")
    order = np.random.default_rng(cfg.seed).permutation(len(specs)).tolist()
    cuts = [max(1, round(len(specs) * 0.6)), max(2, round(len(specs) * 0.8))]
    shares = (order[: cuts[0]], order[cuts[0]: cuts[1]], order[cuts[1]:])
    return tuple(  # type: ignore[return-value]
        pair_sets_from_file(specs, [tokenizer], [cfg.model], cfg.pairs, share[:cap])[(0, 0)]
        for share, cap in zip(shares, cfg.sizes)
    )


def run_lm_site_study(
    cfg: LMSiteStudyConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print,
    adapter: HFAdapter | None = None, tokenizer: object | None = None,
) -> dict:
    """DAS of `cfg.model` at every site and k on the pair file's pairs; write the rows and the
    per-setting scores (CSV, JSON). `adapter` and `tokenizer` may be passed already built."""
    from mas.adapters.hf import HFAdapter, load_tokenizer

    start = time.perf_counter()
    adapter = adapter or HFAdapter(cfg.model, dtype=cfg.dtype, name=Path(cfg.model).name, cache_states=True)
    pairs = split_pair_file(cfg, tokenizer or load_tokenizer(cfg.model))
    parts = out.with_name(f"{out.name}.parts")
    pairs_digest = hashlib.sha256(cfg.pairs.read_bytes()).hexdigest()  # an edited file reruns every setting
    key = {**cfg.model_dump(mode="json", exclude={"sites", "ks"}), "pairs": pairs_digest}

    def cached(model: ModelAdapter, site: str, scheme: str, k: int, score: Callable[[], dict]) -> dict:
        return cached_result(parts / f"{site}-k{k}.json", {**key, "site": site, "k": k}, score)

    found = search_sites_on_pairs([adapter], [{SCHEME: pairs}], cfg.sites, cfg.ks, cfg, False, show_progress, log,
                                  cached)
    results = {**found, "config": cfg.model_dump(mode="json"), "seconds": round(time.perf_counter() - start, 1)}
    write_study(out, "lm site study", cfg, results)
    return results
