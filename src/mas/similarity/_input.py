"""Checking and reading activation matrices for the similarity measures.

Inputs may be huge (a million rows), so nothing here converts a whole matrix to float64 unless a
caller asks for it: rows are read in chunks, checked for NaN/inf and widened one chunk at a time.
"""

from __future__ import annotations

from typing import Callable, Iterator, Union

import numpy as np
import torch

from mas.errors import MasError

Array = Union[np.ndarray, torch.Tensor]
RowMap = Callable[[np.ndarray], np.ndarray]

MIN_ROWS = 4
DEFAULT_CHUNK_ROWS = 65_536
# n×n measures hold a few n×n float64 matrices at once: 10,000 rows is about 0.8 GB each.
MAX_GRAM_ROWS = 10_000


def as_matrix(a: Array, name: str) -> np.ndarray:
    """View `a` as a 2-D numpy array without copying when possible (CPU tensors, memmaps)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        if a.dtype in (torch.bfloat16, torch.float16):
            a = a.float()
        a = a.numpy()
    a = np.asarray(a)
    if a.ndim != 2:
        raise MasError(f"{name} must be a 2-D matrix (rows × units), got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise MasError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.shape[1] == 0:
        raise MasError(f"{name} has no columns")
    return a


def check_pair(x: Array, y: Array) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices as arrays, with the same number of rows and at least `MIN_ROWS` of them."""
    x, y = as_matrix(x, "X"), as_matrix(y, "Y")
    if x.shape[0] != y.shape[0]:
        raise MasError(f"X and Y must have the same rows (stimuli), got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < MIN_ROWS:
        raise MasError(f"similarity needs at least {MIN_ROWS} rows, got {x.shape[0]}")
    return x, y


def check_gram_size(n: int) -> None:
    """Refuse inputs whose n×n matrices would not fit comfortably in memory."""
    if n > MAX_GRAM_ROWS:
        raise MasError(f"this measure builds n×n matrices; {n} rows is above {MAX_GRAM_ROWS}, subsample rows first")


def float_rows(a: np.ndarray, name: str, dtype: type = np.float64, copy: bool = True) -> np.ndarray:
    """`a` as `dtype`: a copy the caller may change, refused if it holds NaN or inf; or with
    `copy=False` the rows themselves where they already have that dtype, unchecked, for callers
    that only read them and check what they compute from them."""
    if not copy:
        return np.asarray(a, dtype=dtype)
    out = np.array(a, dtype=dtype)
    if not np.isfinite(out).all():
        raise MasError(f"{name} contains NaN or inf values")
    return out


def chunks(
    a: np.ndarray, name: str, chunk_rows: int, row_map: RowMap | None = None, dtype: type = np.float64, copy: bool = True
) -> Iterator[np.ndarray]:
    """Checked chunks of rows of `a` as `dtype` (see `float_rows`), each passed through `row_map` if given."""
    if chunk_rows < 1:
        raise MasError(f"chunk_rows must be positive, got {chunk_rows}")
    for start in range(0, a.shape[0], chunk_rows):
        block = float_rows(a[start : start + chunk_rows], name, dtype, copy)
        yield block if row_map is None else row_map(block)


def zscore_map(a: np.ndarray, name: str, chunk_rows: int) -> RowMap:
    """A function that z-scores rows with the column mean and std of all of `a` (one streamed pass).

    Sums are taken around the first row so that large offsets do not swamp the variance.
    """
    shift = float_rows(a[:1], name)[0]
    total = np.zeros(a.shape[1])
    total_sq = np.zeros(a.shape[1])
    for block in chunks(a, name, chunk_rows):
        block -= shift
        total += block.sum(axis=0)
        total_sq += np.einsum("ij,ij->j", block, block)
    n = a.shape[0]
    mean = total / n
    std = np.sqrt(np.maximum(total_sq - n * mean**2, 0.0) / (n - 1))
    constant = np.flatnonzero(std <= 1e-12 * np.abs(mean + shift))
    if constant.size:
        raise MasError(f"{name} has {constant.size} constant column(s) (first: {constant[0]}); cannot z-score them")
    return lambda block: (block - shift - mean) / std


def unit_rows(block: np.ndarray, name: str) -> np.ndarray:
    """Rows scaled to unit length, so that dot products are cosine similarities."""
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    if (norms == 0).any():
        raise MasError(f"{name} has an all-zero row; cosine similarity is undefined for it")
    return block / norms


def compose(first: RowMap | None, second: RowMap | None) -> RowMap | None:
    """Apply `first` then `second`; either may be absent."""
    if first is None or second is None:
        return first or second
    return lambda block: second(first(block))


def load(a: np.ndarray, name: str, zscore: bool) -> np.ndarray:
    """The whole matrix as checked float64, z-scored if asked (for the n×n measures)."""
    out = float_rows(a, name)
    return zscore_map(out, name, out.shape[0])(out) if zscore else out
