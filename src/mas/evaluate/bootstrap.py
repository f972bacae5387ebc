"""The mean of a few runs (seeds) with a bootstrap confidence interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mas.errors import MasError


@dataclass(frozen=True)
class Interval:
    """A mean and the bounds of its confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def as_dict(self) -> dict:
        """The fields a figure's JSON keeps per point or bar: mean, low, high and the number of runs."""
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_interval(
    values: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> Interval:
    """The mean of `values` and a percentile bootstrap interval at `level`, reproducible by `seed`.

    Percentile rather than BCa or studentized: a figure has 3 to 5 seeds per point, too few for
    BCa's jackknife acceleration or a studentized interval's per-resample variance to be estimated
    with any stability, and percentile bounds are means of resampled values, so an IIA interval
    stays inside [0, 1]. With so few values the interval is narrower than the truth; it is meant
    to show which differences the seeds cannot tell apart, not to be an exact coverage guarantee.
    """
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or data.size == 0:
        raise MasError("a bootstrap interval needs a non-empty list of numbers")
    if not np.isfinite(data).all():
        raise MasError("a bootstrap interval needs finite numbers")
    if not 0 < level < 1:
        raise MasError(f"confidence level must lie between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))
