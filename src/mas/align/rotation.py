"""One learned orthogonal matrix per model, from torch's orthogonal parametrization.

Q is never stored directly: the parametrization's underlying parameters are, so a reloaded or
resumed alignment is exactly as orthogonal as a fresh one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from mas.errors import MasError
from mas.io import load_tensors, save_tensors


class Rotations(nn.Module):
    """Q_i (d_i × d_i) for every model i; z = h · Q_i maps a state into the aligned space."""

    def __init__(self, widths: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        self.widths = list(widths)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            # float64 keeps QᵀQ = I to ~1e-12 however long it trains; Q is cast where it is applied.
            self.layers = nn.ModuleList(
                orthogonal(nn.Linear(d, d, bias=False, dtype=torch.float64)) for d in self.widths
            )
        finally:
            torch.random.set_rng_state(generator_state)

    def matrices(self) -> list[torch.Tensor]:
        """Every Q; call inside `torch.nn.utils.parametrize.cached()` to build each once per step."""
        return [layer.weight for layer in self.layers]

    def save(self, path: Path) -> None:
        save_tensors(path, self.state_dict(), metadata={"widths": ",".join(map(str, self.widths))})

    @classmethod
    def load(cls, path: Path) -> "Rotations":
        tensors = load_tensors(path)
        widths = [t.shape[0] for k, t in sorted(tensors.items()) if k.endswith("original")]
        rotations = cls(widths)
        try:
            rotations.load_state_dict(tensors)
        except RuntimeError:
            raise MasError(f"rotation file {path} does not hold an alignment") from None
        return rotations
