"""The verdict on a claim of the paper: does our measured interval say it holds?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from mas.evaluate import Interval, bootstrap_interval

Relation = Literal["above", "below", "at_least", "within"]
Verdict = Literal["holds", "does not hold", "not established", "not measured"]
MIN_RUNS = 2  # one run gives a point, not an interval: nothing can be established from it


def verdict(ours: Interval, other: Interval | float, relation: Relation) -> Verdict:
    """Whether `ours` stands in `relation` to `other`, a measured interval or a fixed number.

    - above / below: holds when the two do not overlap and ours lies on the claimed side, does not
      hold when they do not overlap and ours lies on the other side, else not established.
    - at_least (non-inferiority; `ours` are paired differences, `other` the margin m ≥ 0): "A ≥ B"
      holds unless B is above A by more than m, i.e. holds when the interval of A − B lies above −m,
      does not hold when it lies below −m, else not established. Equality holds.
    - within (equivalence; `ours` paired differences, `other` the tolerance τ): holds when the whole
      interval lies in [−τ, τ], does not hold when it lies wholly outside, else not established.
    A measured side resting on fewer than `MIN_RUNS` runs is never established.
    """
    if ours.n < MIN_RUNS or (isinstance(other, Interval) and other.n < MIN_RUNS):
        return "not established"
    low, high = (other.low, other.high) if isinstance(other, Interval) else (other, other)
    if relation == "at_least":
        return "holds" if ours.low > -high else "does not hold" if ours.high < -low else "not established"
    if relation == "within":
        if -low <= ours.low and ours.high <= high:
            return "holds"
        return "does not hold" if ours.low > high or ours.high < -low else "not established"
    above, below = ours.low > high, ours.high < low
    if not (above or below):
        return "not established"
    return "holds" if above == (relation == "above") else "does not hold"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the values (one per run) that test it."""

    figure: str
    text: str
    ours_label: str
    ours: Sequence[float]
    relation: Relation
    other_label: str
    other: Sequence[float] | float
    ours_groups: Sequence[str] | None = None  # the model pair of each value: the bootstrap resamples pairs first
    other_groups: Sequence[str] | None = None

    def judge(self, seed: int = 0) -> dict:
        """The claim with both sides as mean [95 % interval] and the verdict; "not measured" when a side is empty."""
        ours = bootstrap_interval(self.ours, seed=seed, groups=self.ours_groups) if len(self.ours) else None
        if isinstance(self.other, (int, float)):
            other: Interval | float | None = float(self.other)
        else:
            other = bootstrap_interval(self.other, seed=seed, groups=self.other_groups) if len(self.other) else None
        result = "not measured" if ours is None or other is None else verdict(ours, other, self.relation)
        resampled = "model pairs, then runs within each" if self.ours_groups is not None else "runs"
        return {"figure": self.figure, "claim": self.text, "ours_label": self.ours_label, "ours": _as_dict(ours),
                "relation": self.relation, "other_label": self.other_label, "other": _as_dict(other),
                "verdict": result, "resampled": resampled}


def _as_dict(value: Interval | float | None) -> dict | None:
    if value is None or isinstance(value, float):
        return None if value is None else {"mean": value, "low": value, "high": value, "n": None}
    return {"mean": value.mean, "low": value.low, "high": value.high, "n": value.n}
