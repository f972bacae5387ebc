"""Sampled directions: each step about n of the n² directions, every one of them visited."""

from itertools import islice

import pytest

from mas.align import AlignConfig
from mas.align.directions import DirectionSampler
from mas.align.trainer import all_directions


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_every_direction_is_trained_within_2n_minus_1_steps(n: int) -> None:
    steps = list(islice(DirectionSampler(all_directions(n), "derangement", seed=n), 12 * n))
    for start in range(len(steps) - (2 * n - 1) + 1):
        window = {d for step in steps[start:start + 2 * n - 1] for d in step}
        assert window == set(all_directions(n))


@pytest.mark.parametrize("n", [2, 4, 7])
def test_each_step_uses_every_model_once_as_source_and_once_as_target(n: int) -> None:
    for step in islice(DirectionSampler(all_directions(n), "derangement", seed=1), 5 * n):
        assert sorted(s for s, _ in step) == list(range(n))
        assert sorted(t for _, t in step) == list(range(n))


def test_sampling_is_determined_by_the_seed() -> None:
    def draw(seed: int) -> list:
        return list(islice(DirectionSampler(all_directions(6), "derangement", seed=seed), 30))

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_all_keeps_every_direction_in_the_given_order() -> None:
    directions = [(1, 0), (0, 1), (1, 1)]
    assert next(iter(DirectionSampler(directions, "all"))) == directions


def test_a_subset_around_one_new_model_costs_two_directions_a_step() -> None:
    """Aligning model 5 into a population of 5: only the directions into and out of it."""
    wanted = [d for d in all_directions(6) if 5 in d]
    steps = list(islice(DirectionSampler(wanted, "derangement", seed=0), 60))
    assert all(1 <= len(step) <= 2 and all(5 in d for d in step) for step in steps)
    assert {d for step in steps for d in step} == set(wanted)


def test_the_default_config_trains_all_directions() -> None:
    assert AlignConfig().direction_sampling == "all"
