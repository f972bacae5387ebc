"""The verdict on a claim of the paper: does our measured interval say it holds?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from mas.evaluate import Interval, bootstrap_interval

Relation = Literal["above", "below"]
Verdict = Literal["holds", "does not hold", "not established", "not measured"]
MIN_RUNS = 2  # one run gives a point, not an interval: nothing can be established from it


def verdict(ours: Interval, other: Interval | float, relation: Relation) -> Verdict:
    """Whether `ours` lies `relation` (above or below) `other`, a measured interval or a fixed number.

    It holds when the two do not overlap and ours lies on the claimed side, does not hold when they
    do not overlap and ours lies on the other side, and is not established when they overlap or a
    measured side rests on fewer than `MIN_RUNS` runs.
    """
    if ours.n < MIN_RUNS or (isinstance(other, Interval) and other.n < MIN_RUNS):
        return "not established"
    low, high = (other.low, other.high) if isinstance(other, Interval) else (other, other)
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

    def judge(self, seed: int = 0) -> dict:
        """The claim with both sides as mean [95 % interval] and the verdict; "not measured" when a side is empty."""
        ours = bootstrap_interval(self.ours, seed=seed) if len(self.ours) else None
        if isinstance(self.other, (int, float)):
            other: Interval | float | None = float(self.other)
        else:
            other = bootstrap_interval(self.other, seed=seed) if len(self.other) else None
        result = "not measured" if ours is None or other is None else verdict(ours, other, self.relation)
        return {"figure": self.figure, "claim": self.text, "ours_label": self.ours_label, "ours": _as_dict(ours),
                "relation": self.relation, "other_label": self.other_label, "other": _as_dict(other),
                "verdict": result}


def _as_dict(value: Interval | float | None) -> dict | None:
    if value is None or isinstance(value, float):
        return None if value is None else {"mean": value, "low": value, "high": value, "n": None}
    return {"mean": value.mean, "low": value.low, "high": value.high, "n": value.n}
