"""Matrix products and row-by-row Gram and distance matrices shared by CKA and RSA.

Products go through torch: on small CPU machines numpy's threaded BLAS can be many times slower
than torch's for the tall-and-thin float64 products that dominate here.
"""

from __future__ import annotations

import numpy as np
import torch


def t_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """aᵀb in float64."""
    return (torch.from_numpy(np.ascontiguousarray(a)).T @ torch.from_numpy(np.ascontiguousarray(b))).numpy()


def gram(a: np.ndarray) -> np.ndarray:
    """aaᵀ, made exactly symmetric (BLAS may round the two triangles differently)."""
    out = t_matmul(a.T, a.T)
    out += out.T
    out *= 0.5
    return out


def euclidean_distances(a: np.ndarray) -> np.ndarray:
    """n×n distances via ‖a‖² + ‖b‖² − 2a·b.

    Rows are first shifted by the first row: this limits cancellation when activations sit far
    from the origin, and keeps integer-valued inputs exact so tied distances stay tied.
    """
    a = a - a[0]
    sq = np.einsum("ij,ij->i", a, a)
    out = gram(a)
    out *= -2.0
    out += np.add.outer(sq, sq)
    np.maximum(out, 0.0, out=out)
    np.fill_diagonal(out, 0.0)
    return np.sqrt(out, out=out)
