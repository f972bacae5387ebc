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
    values: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0,
    groups: Sequence[str] | None = None,
) -> Interval:
    """The mean of `values` and a percentile bootstrap interval at `level`, reproducible by `seed`.

    Percentile rather than BCa or studentized: a figure has 3 to 5 seeds per point, too few for
    BCa's jackknife acceleration or a studentized interval's per-resample variance to be estimated
    with any stability, and percentile bounds are means of resampled values, so an IIA interval
    stays inside [0, 1]. With so few values the interval is narrower than the truth; it is meant
    to show which differences the seeds cannot tell apart, not to be an exact coverage guarantee.

    With `groups` (one label per value, e.g. the model pair a run aligned), the bootstrap is
    two-level: it resamples groups, then values within each drawn group, so the interval samples
    models and not only seeds. With one value per group the two are the same.
    """
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or data.size == 0:
        raise MasError("a bootstrap interval needs a non-empty list of numbers")
    if not np.isfinite(data).all():
        raise MasError("a bootstrap interval needs finite numbers")
    if not 0 < level < 1:
        raise MasError(f"confidence level must lie between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    if groups is None:
        means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    else:
        means = _grouped_means(data, list(groups), rng, resamples)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))


def _grouped_means(data: np.ndarray, groups: list[str], rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Means of two-level resamples: groups with replacement, then each drawn group's values with replacement."""
    if len(groups) != data.size:
        raise MasError(f"{data.size} values but {len(groups)} group labels")
    members = [np.flatnonzero(np.asarray(groups) == g) for g in dict.fromkeys(groups)]
    if len({m.size for m in members}) == 1:  # equal groups (the usual figure): one vectorised draw
        table = np.stack(members)  # (G, m)
        drawn = rng.integers(0, len(members), size=(resamples, len(members)))
        within = rng.integers(0, table.shape[1], size=(*drawn.shape, table.shape[1]))
        return data[table[drawn[..., None], within]].mean(axis=(1, 2))
    means = np.empty(resamples)
    for r in range(resamples):
        drawn = [members[i] for i in rng.integers(0, len(members), size=len(members))]
        means[r] = np.concatenate([data[rng.choice(m, size=m.size)] for m in drawn]).mean()
    return means
