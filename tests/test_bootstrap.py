"""The bootstrap interval against cases worked out by hand."""

import pytest

from mas.errors import MasError
from mas.evaluate import bootstrap_interval


def test_interval_of_one_success_in_three() -> None:
    """Resampling [0, 0, 1] three times gives k/3 with k ~ Binomial(3, 1/3).

    P(mean = 0) = 8/27 ≈ 0.296, P(1/3) = 12/27, P(2/3) = 6/27, P(1) = 1/27 ≈ 0.037. So the 2.5 %
    and 5 % percentiles are 0, the 95 % percentile is 2/3 (P(mean ≤ 2/3) = 26/27 ≈ 0.963) and the
    97.5 % percentile is 1.
    """
    ninety = bootstrap_interval([0, 0, 1], level=0.90)
    assert (ninety.mean, ninety.low, ninety.high, ninety.n) == pytest.approx((1 / 3, 0, 2 / 3, 3))
    ninety_five = bootstrap_interval([0, 0, 1])
    assert (ninety_five.low, ninety_five.high) == pytest.approx((0, 1))


def test_identical_values_have_no_spread_and_seeds_repeat() -> None:
    assert bootstrap_interval([0.7] * 4) == bootstrap_interval([0.7] * 4, seed=5)
    interval = bootstrap_interval([0.7] * 4)
    assert interval.low == pytest.approx(0.7) and interval.high == pytest.approx(0.7)
    values = [0.91, 0.95, 0.97, 0.88]
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    assert bootstrap_interval(values).low < 0.9275 < bootstrap_interval(values).high


@pytest.mark.parametrize("values", [[], [float("nan"), 1.0]])
def test_refuses_what_has_no_mean(values: list[float]) -> None:
    with pytest.raises(MasError):
        bootstrap_interval(values)


def test_interval_as_dict_and_error_bars_match_the_interval() -> None:
    from mas.plots import interval_yerr

    interval = bootstrap_interval([0.2, 0.4, 0.9])
    point = interval.as_dict()
    assert point == {"mean": interval.mean, "low": interval.low, "high": interval.high, "n": 3}
    (below,), (above,) = interval_yerr([point])
    assert below == pytest.approx(interval.mean - interval.low) and above == pytest.approx(interval.high - interval.mean)
    assert below > 0 and above > 0
