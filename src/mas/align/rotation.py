"""One learned orthogonal matrix per model, from torch's orthogonal parametrization.

Q is never stored directly: the parametrization's underlying parameters are, so a reloaded or
resumed alignment is exactly as orthogonal as a fresh one. Those parameters mean a Q only under the
map that made them (Q = base · map(A), A skew), so a file names its map.

The Cayley map, (I + A/2)⁻¹(I − A/2) up to sign conventions, is the default: one solve instead of a
matrix exponential, whose backward is the exponential of a 2d × 2d block matrix. For two 128-wide
rotations in float64 a step's build and backward take 3.5 to 3.9 ms against 33.6 to 34.5 ms
(`benchmarks/bench_mas.py`). A fresh rotation is the same Q under either map (A = 0, Q = base), and
there the two agree to first order, so training starts alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence, get_args

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from mas.errors import MasError
from mas.io import load_tensors_with_metadata, save_tensors

OrthogonalMap = Literal["cayley", "matrix_exp"]
DEFAULT_MAP: OrthogonalMap = "cayley"
LEGACY_MAP: OrthogonalMap = "matrix_exp"  # what files that name no map were trained with


class Rotations(nn.Module):
    """Q_i (d_i × d_i) for every model i; z = h · Q_i maps a state into the aligned space."""

    def __init__(self, widths: Sequence[int], seed: int = 0, orthogonal_map: OrthogonalMap = DEFAULT_MAP) -> None:
        super().__init__()
        if orthogonal_map not in get_args(OrthogonalMap):
            raise MasError(f"unknown orthogonal map {orthogonal_map!r}; one of {', '.join(get_args(OrthogonalMap))}")
        self.widths = list(widths)
        self.orthogonal_map = orthogonal_map
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            # float64 keeps QᵀQ = I to ~1e-12 however long it trains; Q is cast where it is applied.
            self.layers = nn.ModuleList(
                orthogonal(nn.Linear(d, d, bias=False, dtype=torch.float64), orthogonal_map=orthogonal_map)
                for d in self.widths
            )
        finally:
            torch.random.set_rng_state(generator_state)

    def matrices(self) -> list[torch.Tensor]:
        """Every Q; call inside `torch.nn.utils.parametrize.cached()` to build each once per step."""
        return [layer.weight for layer in self.layers]

    def save(self, path: Path) -> None:
        metadata = {"widths": ",".join(map(str, self.widths)), "orthogonal_map": self.orthogonal_map}
        save_tensors(path, self.state_dict(), metadata=metadata)

    @classmethod
    def load(cls, path: Path) -> "Rotations":
        tensors, metadata = load_tensors_with_metadata(path)
        widths = [t.shape[0] for k, t in sorted(tensors.items()) if k.endswith("original")]
        orthogonal_map = metadata.get("orthogonal_map", LEGACY_MAP)
        if orthogonal_map not in get_args(OrthogonalMap):
            raise MasError(f"rotation file {path} names an unknown orthogonal map {orthogonal_map!r}")
        rotations = cls(widths, orthogonal_map=orthogonal_map)
        try:
            rotations.load_state_dict(tensors)
        except RuntimeError:
            raise MasError(f"rotation file {path} does not hold an alignment") from None
        return rotations
