"""Representational similarity analysis (RSA) between two activation matrices over the same rows.

Each side becomes a representational dissimilarity matrix (RDM, n×n) over its rows; the two RDMs
are then correlated over their off-diagonal lower triangles. Units need not match between sides,
and the result ignores any permutation of units. Building RDMs is O(n²) in memory, so n is
limited to `MAX_GRAM_ROWS`.
"""

from __future__ import annotations

import numpy as np

from mas.errors import MasError
from mas.similarity._input import Array, as_matrix, check_gram_size, check_pair, load, unit_rows
from mas.similarity._linalg import euclidean_distances, gram

METRICS = ("cosine", "euclidean", "sqeuclidean", "correlation")
COMPARISONS = ("spearman", "pearson")


def rdm(x: Array, metric: str = "cosine", *, zscore: bool = False) -> np.ndarray:
    """The n×n dissimilarity matrix of the rows of `x`.

    Metrics: "cosine" (1 − cosine similarity), "euclidean" (the plain distance), "sqeuclidean" (the
    squared distance, which rsatoolbox calls "euclidean"; Spearman comparisons are the same for both,
    Pearson ones differ) and "correlation" (1 − Pearson correlation of two rows across units).
    """
    x = as_matrix(x, "X")
    check_gram_size(x.shape[0])
    return _rdm(load(x, "X", zscore), metric, "X")


def rsa(x: Array, y: Array, *, metric: str = "cosine", compare: str = "spearman", zscore: bool = False) -> float:
    """Correlation ("spearman" or "pearson") between the lower triangles of the RDMs of X and Y."""
    if compare not in COMPARISONS:
        raise MasError(f"unknown RDM comparison {compare!r}; choose one of {', '.join(COMPARISONS)}")
    x, y = check_pair(x, y)
    check_gram_size(x.shape[0])
    lower = np.tri(x.shape[0], k=-1, dtype=bool)
    a = _varying(_rdm(load(x, "X", zscore), metric, "X")[lower], metric, "X")
    b = _varying(_rdm(load(y, "Y", zscore), metric, "Y")[lower], metric, "Y")
    if compare == "spearman":
        a, b = _ranks(a), _ranks(b)
    return _pearson(a, b)


def _rdm(a: np.ndarray, metric: str, name: str) -> np.ndarray:
    if metric == "cosine":
        return _one_minus_gram(unit_rows(a, name))
    if metric == "correlation":
        return _one_minus_gram(unit_rows(_centred_rows(a, name), name))
    if metric == "euclidean":
        return euclidean_distances(a)
    if metric == "sqeuclidean":
        return np.square(euclidean_distances(a))
    raise MasError(f"unknown RDM metric {metric!r}; choose one of {', '.join(METRICS)}")


def _varying(v: np.ndarray, metric: str, name: str) -> np.ndarray:
    """Refuse an RDM whose entries are all equal up to rounding: it has no correlation."""
    scale = float(v.max()) if metric in ("euclidean", "sqeuclidean") else 1.0
    if np.ptp(v) <= 1e-10 * scale:
        raise MasError(f"the RDM of {name} is constant (all rows equally dissimilar); its correlation is undefined")
    return v


def _one_minus_gram(unit: np.ndarray) -> np.ndarray:
    out = gram(unit)
    np.subtract(1.0, out, out=out)
    np.fill_diagonal(out, 0.0)
    return out


def _centred_rows(a: np.ndarray, name: str) -> np.ndarray:
    """Rows minus their own mean across units; a row with no spread has no correlation."""
    if a.shape[1] < 2:
        raise MasError(f"{name} needs at least 2 units for correlation distance, got {a.shape[1]}")
    return a - a.mean(axis=1, keepdims=True)


def _ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as Spearman's rho needs)."""
    order = np.argsort(v, kind="stable")
    ordered = v[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(starts_group)
    sizes = np.diff(np.r_[starts, v.size])
    mean_rank = starts + (sizes + 1) / 2.0
    ranks = np.empty(v.size)
    ranks[order] = np.repeat(mean_rank, sizes)
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
