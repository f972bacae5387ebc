"""Centred kernel alignment (CKA) between two activation matrices X (n×d₁) and Y (n×d₂).

CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L)) for Gram matrices K and L over the same n
rows. Two HSIC estimators are offered: the usual biased one, tr(KHLH)/(n−1)², and the unbiased one
of Song et al. (2012), whose "debiased CKA" does not drift upward for small n relative to d.

Linear and cosine CKA never build n×n matrices when n exceeds the width: they accumulate XᵀX, YᵀY,
XᵀY and a few row statistics in float64 over chunks of rows (`StreamingLinearCKA`), so a million
rows cost a few d×d matrices of memory. The Euclidean kernel needs all pairwise distances and is
limited to `MAX_GRAM_ROWS` rows.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from mas.errors import MasError
from mas.similarity._input import (
    DEFAULT_CHUNK_ROWS,
    MAX_GRAM_ROWS,
    MIN_ROWS,
    Array,
    RowMap,
    as_matrix,
    check_gram_size,
    check_pair,
    chunks,
    compose,
    float_rows,
    load,
    unit_rows,
    zscore_map,
)
from mas.similarity._linalg import euclidean_distances, gram


SHIFT_ROWS = 1024  # rows of the first chunk whose mean every row is taken around


class _Moments:
    """Running float64 sums of one side, taken around an early mean so offsets do not swamp them.

    Where the early rows' mean is already small beside their spread (within one standard deviation
    in every column, as for most activations), the products lose nothing to cancellation without
    the shift, so rows are used as they are and the pass that copies them is skipped.
    """

    def __init__(self, first_rows: np.ndarray, name: str) -> None:
        mean = first_rows.mean(axis=0, dtype=np.float64)
        self.shifted = bool((np.abs(mean) > first_rows.std(axis=0, dtype=np.float64)).any())
        self.shift = mean.astype(first_rows.dtype) if self.shifted else np.zeros(mean.size, first_rows.dtype)
        self.name = name
        self.total = np.zeros(mean.size)
        self.gram = np.zeros((mean.size, mean.size))

    def add(self, block: np.ndarray) -> np.ndarray:
        """Accumulate `block` (its products in its own precision); return it shifted.

        A NaN or inf anywhere in `block` makes its column sums NaN or inf, so checking those
        refuses it without a pass of its own."""
        with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf are refused just below
            if self.shifted:
                block = block - self.shift
            sums = block.sum(axis=0).astype(np.float64)  # pairwise in the block's own precision
        if not np.isfinite(sums).all():
            raise MasError(f"{self.name} contains NaN or inf values")
        self.total += sums
        self.gram += block.T @ block  # numpy sees AᵀA and computes one triangle (syrk)
        return block


class StreamingLinearCKA:
    """Linear CKA accumulated over chunks of rows, for activations too large to hold at once.

    Feed matching row chunks with `update(x, y)` in any number of calls, then read `score()`.
    Memory is O(d₁² + d₂² + d₁d₂) whatever the number of rows. With `debiased=True` the unbiased
    HSIC estimator is used; its row-level terms reduce to a few extra d-vectors and scalars.
    """

    def __init__(self, debiased: bool = False) -> None:
        self.debiased = debiased
        self.n = 0

    def update(self, x: Array, y: Array) -> StreamingLinearCKA:
        """Add the rows of `x` and `y` (same row count, finite values)."""
        x, y = as_matrix(x, "X"), as_matrix(y, "Y")
        if x.shape[0] != y.shape[0]:
            raise MasError(f"X and Y chunks must have the same rows, got {x.shape[0]} and {y.shape[0]}")
        if self.n and (x.shape[1], y.shape[1]) != (self.x.shift.size, self.y.shift.size):
            raise MasError(f"chunk widths {x.shape[1]}, {y.shape[1]} differ from the first chunk's")
        return self._add(float_rows(x, "X"), float_rows(y, "Y"))

    def _add(self, x: np.ndarray, y: np.ndarray) -> StreamingLinearCKA:
        """`update` for chunks already checked: float64, or float32 (see `_stream`)."""
        if self.n == 0:
            self._start(x, y)
        xs, ys = self.x.add(x), self.y.add(y)
        self.cross += xs.T.astype(np.float64, copy=False) @ ys.astype(np.float64, copy=False) if xs.dtype != ys.dtype else xs.T @ ys
        if self.debiased:
            self._add_row_terms(xs, ys, np.einsum("ij,ij->i", xs, xs), np.einsum("ij,ij->i", ys, ys))
        self.n += x.shape[0]
        return self

    def score(self) -> float:
        """CKA of all rows seen so far."""
        if self.n < MIN_ROWS:
            raise MasError(f"similarity needs at least {MIN_ROWS} rows, got {self.n}")
        return self._debiased_score() if self.debiased else self._biased_score()

    def _start(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = _Moments(x[:SHIFT_ROWS], "X")
        self.y = _Moments(y[:SHIFT_ROWS], "Y")
        self.cross = np.zeros((x.shape[1], y.shape[1]))
        dx, dy = x.shape[1], y.shape[1]
        self.row = {"x_kx": np.zeros(dx), "x_ly": np.zeros(dx), "y_kx": np.zeros(dy), "y_ly": np.zeros(dy)}
        self.sums = {"kx": 0.0, "ly": 0.0, "kx_ly": 0.0, "kx_kx": 0.0, "ly_ly": 0.0}

    def _add_row_terms(self, xs: np.ndarray, ys: np.ndarray, kx: np.ndarray, ly: np.ndarray) -> None:
        self.row["x_kx"] += xs.T @ kx
        self.row["x_ly"] += xs.T @ ly
        self.row["y_kx"] += ys.T @ kx
        self.row["y_ly"] += ys.T @ ly
        for key, value in (("kx", kx.sum()), ("ly", ly.sum()), ("kx_ly", kx @ ly), ("kx_kx", kx @ kx), ("ly_ly", ly @ ly)):
            self.sums[key] += value

    def _biased_score(self) -> float:
        mx, my = self.x.total / self.n, self.y.total / self.n
        cxx = self.x.gram - self.n * np.outer(mx, mx)
        cyy = self.y.gram - self.n * np.outer(my, my)
        cxy = self.cross - self.n * np.outer(mx, my)
        norm_x = _checked_norm(cxx, self.x.gram, "X")
        norm_y = _checked_norm(cyy, self.y.gram, "Y")
        return float(np.sum(cxy * cxy) / (norm_x * norm_y))

    def _debiased_score(self) -> float:
        sx, sy, r, s = self.x.total, self.y.total, self.row, self.sums
        xy = _unbiased_hsic(self.n, self.cross, sx, sy, r["x_ly"], r["y_kx"], s["kx"], s["ly"], s["kx_ly"])
        xx = _unbiased_hsic(self.n, self.x.gram, sx, sx, r["x_kx"], r["x_kx"], s["kx"], s["kx"], s["kx_kx"])
        yy = _unbiased_hsic(self.n, self.y.gram, sy, sy, r["y_ly"], r["y_ly"], s["ly"], s["ly"], s["ly_ly"])
        return _ratio(xy, xx, yy)


def _checked_norm(centred: np.ndarray, raw: np.ndarray, name: str) -> float:
    """Frobenius norm of a centred Gram matrix, refusing one that is zero up to rounding."""
    norm = float(np.linalg.norm(centred))
    if norm <= 1e-9 * float(np.linalg.norm(raw)) or norm == 0.0:
        raise MasError(f"{name} has no variance across rows; CKA is undefined")
    return norm


def _unbiased_hsic(
    n: int, cross: np.ndarray, sa: np.ndarray, sb: np.ndarray, a_lb: np.ndarray, b_ka: np.ndarray,
    sum_k: float, sum_l: float, sum_kl: float,
) -> float:
    """Song et al.'s unbiased HSIC for linear kernels K = AAᵀ, L = BBᵀ, from feature-space sums.

    With K̃, L̃ the Grams with zeroed diagonals (k, l their diagonals, s the column sums):
    tr(K̃L̃) = ‖AᵀB‖² − Σkl,  1ᵀK̃1 = ‖sa‖² − Σk,
    1ᵀK̃L̃1 = saᵀ(AᵀB)sb − saᵀ(Aᵀl) − sbᵀ(Bᵀk) + Σkl.
    """
    trace = float(np.sum(cross * cross)) - sum_kl
    k_sum = float(sa @ sa) - sum_k
    l_sum = float(sb @ sb) - sum_l
    k_l_sum = float(sa @ cross @ sb - sa @ a_lb - sb @ b_ka) + sum_kl
    return _hsic_terms(n, trace, k_sum, l_sum, k_l_sum)


def _hsic_terms(n: int, trace: float, k_sum: float, l_sum: float, k_l_sum: float) -> float:
    """Unbiased HSIC from tr(K̃L̃), 1ᵀK̃1, 1ᵀL̃1 and 1ᵀK̃L̃1."""
    return (trace + k_sum * l_sum / ((n - 1) * (n - 2)) - 2.0 * k_l_sum / (n - 2)) / (n * (n - 3))


def _ratio(xy: float, xx: float, yy: float) -> float:
    """HSIC(K,L)/sqrt(HSIC(K,K)·HSIC(L,L)), refusing a non-positive self term (too few rows)."""
    if xx <= 0 or yy <= 0:
        raise MasError("self-similarity estimate is not positive (no variance, or too few rows for the debiased estimator)")
    return float(xy / np.sqrt(xx * yy))


def _stream(x: np.ndarray, y: np.ndarray, debiased: bool, chunk_rows: int, x_map: RowMap | None, y_map: RowMap | None) -> float:
    """Streamed CKA. In plain biased linear CKA a float32 input keeps its chunk products in float32
    (XᵀY in the wider precision of the two; sums in float64): half the time of float64 products
    and as precise as the input. Everything else is widened to float64 first."""
    plain = not debiased and x_map is None and y_map is None
    dx, dy = (np.float32 if plain and a.dtype == np.float32 else np.float64 for a in (x, y))
    acc = StreamingLinearCKA(debiased)
    blocks = zip(chunks(x, "X", chunk_rows, x_map, dx, copy=not plain), chunks(y, "Y", chunk_rows, y_map, dy, copy=not plain))
    for xb, yb in blocks:
        acc._add(xb, yb)
    return acc.score()


def _feature_cka(x: Array, y: Array, zscore: bool, debiased: bool, chunk_rows: int, row_map: Callable | None) -> float:
    """Linear CKA after optional z-scoring and a per-row map, in whichever space is smaller."""
    x, y = check_pair(x, y)
    x_map = zscore_map(x, "X", chunk_rows) if zscore else None
    y_map = zscore_map(y, "Y", chunk_rows) if zscore else None
    if row_map is not None:
        x_map = compose(x_map, lambda b: row_map(b, "X"))
        y_map = compose(y_map, lambda b: row_map(b, "Y"))
    n = x.shape[0]
    if n < max(x.shape[1], y.shape[1]) and n <= MAX_GRAM_ROWS:
        a, b = (next(chunks(m, name, n, f)) for m, name, f in ((x, "X", x_map), (y, "Y", y_map)))
        return cka_gram(gram(a), gram(b), debiased=debiased)
    return _stream(x, y, debiased, chunk_rows, x_map, y_map)


def cka_linear(x: Array, y: Array, *, zscore: bool = False, debiased: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> float:
    """Linear CKA, ‖XcᵀYc‖²_F / (‖XcᵀXc‖_F ‖YcᵀYc‖_F) with column-centred Xc, Yc.

    Streams over `chunk_rows` rows at a time in float64; builds n×n Grams only when n is below
    the width (where they are the smaller form). The debiased estimator streams too: its
    row-level terms reduce to d-vectors. `zscore` standardises every unit first (one extra pass).
    """
    return _feature_cka(x, y, zscore, debiased, chunk_rows, None)


def cka_cosine(x: Array, y: Array, *, zscore: bool = False, debiased: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> float:
    """CKA with the cosine-similarity kernel k(a, b) = 1 − cosine distance(a, b).

    The kernel is linear on rows scaled to unit length, so this streams like `cka_linear`.
    Rows that are all zero (after z-scoring, if asked) are refused.
    """
    return _feature_cka(x, y, zscore, debiased, chunk_rows, unit_rows)


def cka_euclidean(x: Array, y: Array, *, zscore: bool = False, debiased: bool = False) -> float:
    """CKA with the negative Euclidean-distance kernel k(a, b) = −‖a − b‖.

    A parameter-free choice (no bandwidth): after double centring it is the distance-induced
    kernel, so the biased value equals the squared distance correlation of Székely et al. (2007).
    Builds n×n distance matrices, so n is limited to `MAX_GRAM_ROWS`.
    """
    x, y = check_pair(x, y)
    check_gram_size(x.shape[0])
    kx = -euclidean_distances(load(x, "X", zscore))
    ky = -euclidean_distances(load(y, "Y", zscore))
    return cka_gram(kx, ky, debiased=debiased)


def cka_gram(k: np.ndarray, l: np.ndarray, *, debiased: bool = False) -> float:
    """CKA from two symmetric n×n Gram matrices of any kernel (inputs are not modified)."""
    n = k.shape[0]
    if k.shape != (n, n) or l.shape != (n, n):
        raise MasError(f"Gram matrices must be square and the same size, got {k.shape} and {l.shape}")
    if n < MIN_ROWS:
        raise MasError(f"similarity needs at least {MIN_ROWS} rows, got {n}")
    if debiased:
        k, l = _zero_diagonal(k), _zero_diagonal(l)
        return _ratio(_gram_unbiased_hsic(k, l), _gram_unbiased_hsic(k, k), _gram_unbiased_hsic(l, l))
    kc, lc = _double_centre(k), _double_centre(l)
    return _ratio(float(np.sum(kc * lc)), float(np.sum(kc * kc)), float(np.sum(lc * lc)))


def _zero_diagonal(k: np.ndarray) -> np.ndarray:
    out = np.array(k, dtype=np.float64)
    np.fill_diagonal(out, 0.0)
    return out


def _double_centre(k: np.ndarray) -> np.ndarray:
    """HKH without forming H: subtract row and column means, add back the grand mean."""
    out = np.array(k, dtype=np.float64)
    means = out.mean(axis=0)
    out -= means[None, :]
    out -= means[:, None]
    out += means.mean()
    return out


def _gram_unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """Unbiased HSIC of Gram matrices whose diagonals are already zero."""
    k_rows, l_rows = k.sum(axis=1), l.sum(axis=1)
    return _hsic_terms(k.shape[0], float(np.sum(k * l)), float(k_rows.sum()), float(l_rows.sum()), float(k_rows @ l_rows))
