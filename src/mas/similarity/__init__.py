"""Correlational similarity between two models' activations: CKA and RSA as pure functions.

Every measure takes X (n×d₁) and Y (n×d₂), torch tensors or numpy arrays whose rows are the same
stimuli, and returns a Python float. `MEASURES` names each variant for the command line and for
`compare`, which scores one pair of matrices under several measures at once.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterable

from mas.errors import MasError
from mas.similarity._input import MAX_GRAM_ROWS, Array
from mas.similarity.cka import StreamingLinearCKA, cka_cosine, cka_euclidean, cka_gram, cka_linear
from mas.similarity.rsa import COMPARISONS, METRICS, rdm, rsa

Measure = Callable[..., float]


def _registry() -> dict[str, Measure]:
    measures: dict[str, Measure] = {}
    for name, fn in (("linear", cka_linear), ("cosine", cka_cosine), ("euclidean", cka_euclidean)):
        measures[f"cka_{name}"] = fn
        measures[f"cka_{name}_debiased"] = partial(fn, debiased=True)
    for metric in METRICS:
        for comparison in COMPARISONS:
            measures[f"rsa_{metric}_{comparison}"] = partial(rsa, metric=metric, compare=comparison)
    return measures


MEASURES: dict[str, Measure] = _registry()
"""Measure name → function(X, Y, *, zscore=False) -> float."""


def compare(x: Array, y: Array, measures: Iterable[str] | None = None, *, zscore: bool = False) -> dict[str, float]:
    """Score X against Y under each named measure (all of `MEASURES` when none are named)."""
    names = list(MEASURES if measures is None else measures)
    unknown = [name for name in names if name not in MEASURES]
    if unknown:
        raise MasError(f"unknown similarity measure(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
    return {name: MEASURES[name](x, y, zscore=zscore) for name in names}


__all__ = [
    "MAX_GRAM_ROWS",
    "MEASURES",
    "StreamingLinearCKA",
    "cka_cosine",
    "cka_euclidean",
    "cka_gram",
    "cka_linear",
    "compare",
    "rdm",
    "rsa",
]
