"""Activation matrices from files, for comparing systems `mas` cannot run (recordings, other code).

`.npy` files are read with pickles refused; `.safetensors` files must hold exactly one tensor. Rows
are stimuli and must pair up between the two files; every problem names the file it is in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from mas.errors import MasError

SUFFIXES = (".npy", ".safetensors")


def load_matrix(path: Path) -> np.ndarray:
    """The one array in `path` (a `.npy` or `.safetensors` file), as it is stored."""
    path = Path(path)
    if not path.is_file():
        raise MasError(f"missing activation file: {path}")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as err:  # numpy's message for object arrays and for unreadable headers
            raise MasError(f"cannot read {path} as a plain .npy array (pickled objects are refused): {err}") from None
        except EOFError:  # numpy's error for an empty file or one cut short in its header
            raise MasError(f"cannot read {path}: the file is empty or cut short") from None
        except OSError as err:
            raise MasError(f"cannot read {path}: {err}") from None
    if path.suffix == ".safetensors":
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, TypeError, ValueError) as err:
            raise MasError(f"corrupt safetensors file {path}: {err}") from None
        if len(tensors) != 1:
            raise MasError(f"{path} holds {len(tensors)} tensors ({', '.join(sorted(tensors)) or 'none'}); give a file with one")
        return next(iter(tensors.values()))
    raise MasError(f"activation file {path} must end in {' or '.join(SUFFIXES)}")


def load_activations(path: Path) -> np.ndarray:
    """A checked (rows × units) matrix of finite real numbers from `path`."""
    a = load_matrix(path)
    if a.ndim != 2:
        raise MasError(f"{path} must hold a 2-D matrix (rows × units), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise MasError(f"{path} is empty (shape {a.shape})")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise MasError(f"{path} must hold real numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise MasError(f"{path} contains NaN or inf values")
    return a


def paired_activations(path_a: Path, path_b: Path) -> tuple[np.ndarray, np.ndarray]:
    """Both files' matrices; their rows must be the same stimuli, so their counts must agree."""
    a, b = load_activations(path_a), load_activations(path_b)
    if a.shape[0] != b.shape[0]:
        raise MasError(f"{path_a} has {a.shape[0]} rows but {path_b} has {b.shape[0]}; rows must pair up")
    return a, b
