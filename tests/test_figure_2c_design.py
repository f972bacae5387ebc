"""Figure 2c as the reference ran it: disjoint fine-tuning shares, gradient accumulation, the profiles."""

from __future__ import annotations

import pytest

from mas.errors import MasError
from mas.experiments.figure_2c import Figure2cConfig, copy_texts, cpu_profile, disjoint_share, paper_profile
from mas.lm.finetune import FinetuneConfig

TEXTS = {label: [f"text {label}-{i}" for i in range(10)] for label in (0, 1)}


def test_each_copy_gets_its_own_disjoint_share() -> None:
    shares = [disjoint_share(TEXTS[1], i, 3) for i in range(3)]
    assert [len(s) for s in shares] == [3, 3, 4]
    assert sum(shares, []) == TEXTS[1]  # together every text, each once, in order
    cfg = Figure2cConfig(toxic=3, nontoxic=2)
    by_copy = copy_texts(cfg, TEXTS)
    assert list(by_copy) == ["toxic-0", "toxic-1", "toxic-2", "nontoxic-0", "nontoxic-1"]
    assert by_copy["toxic-1"] == ["text 1-3", "text 1-4", "text 1-5"]
    assert by_copy["nontoxic-1"] == [f"text 0-{i}" for i in range(5, 10)]
    for group in ("toxic", "nontoxic"):
        mine = [set(texts) for name, texts in by_copy.items() if name.startswith(group)]
        assert all(not (a & b) for i, a in enumerate(mine) for b in mine[i + 1:])


def test_too_few_texts_for_the_copies_are_refused() -> None:
    with pytest.raises(MasError, match="2 texts cannot give 3 copies a share each"):
        disjoint_share(["a", "b"], 0, 3)


def test_accumulation_must_be_positive() -> None:
    with pytest.raises(MasError, match="accumulate must be at least 1"):
        FinetuneConfig(accumulate=0).check()


def test_profiles_align_at_the_embeddings_with_half_the_width() -> None:
    paper = paper_profile(576)
    assert (paper["site"], paper["k"], paper["finetune_lr"]) == ("embed", 288, 6e-4)
    assert paper["finetune_batch"] * paper["finetune_accumulate"] == 96 and paper["finetune_steps"] == 600
    assert (cpu_profile(576)["site"], cpu_profile(576)["k"]) == ("embed", 288)
    # At the paper's lr, one micro-batch of 4 a step raised every copy's held-out loss; the CPU profile
    # accumulates 6 of them (see cpu_profile).
    assert cpu_profile(576)["finetune_batch"] * cpu_profile(576)["finetune_accumulate"] == 24


def test_cpu_profile_trains_n_directions_a_step_and_the_paper_all() -> None:
    # At 30 steps of every direction the CPU profile's IIA equalled its control; n passes a step buy
    # more steps in the same time (see cpu_profile). The paper profile keeps the reference's n².
    assert Figure2cConfig(profile="cpu").with_profile(576).direction_sampling == "derangement"
    assert Figure2cConfig(profile="paper").with_profile(576).direction_sampling == "all"
    chosen = Figure2cConfig(profile="cpu", direction_sampling="all").with_profile(576)
    assert chosen.direction_sampling == "all" and chosen.align_steps == cpu_profile(576)["align_steps"]
    with pytest.raises(ValueError, match="derangement"):
        Figure2cConfig(direction_sampling="some")
