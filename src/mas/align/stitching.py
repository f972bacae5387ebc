"""Model stitching as a site map: a learned linear layer from the source's site to the target's.

Unlike MAS, where n rotations serve all n² directions, stitching needs a layer per ordered pair.
A direction whose own layer was not trained but whose reverse was is served by the reverse's
pseudo-inverse, so a stitch trained one way can still be scored both ways.

Two forms. The reference code's stitch is orthogonal and has no bias: W = Q_s[:, :r] · Q_t[:, :r]ᵀ,
a rank-r partial isometry (the target's state replaced by the source's first r aligned dims), whose
pseudo-inverse is exactly its transpose. The affine form, h·W + b with W free, is a regression onto
the target's states: a stronger, different baseline (the bias alone supplies the mean state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
from torch import nn

from mas.align.maps import Direction
from mas.align.rotation import Rotations
from mas.errors import MasError

Init = Literal["random", "identity"]
Form = Literal["orthogonal", "affine"]
Affine = tuple[torch.Tensor, torch.Tensor | None]


def _key(direction: Direction) -> str:
    return f"{direction[0]}_{direction[1]}"


class StitchLayer(nn.Module):
    """h ↦ h·W (+ b): W full (d_s × d_t) or of rank r as the product of two thin matrices (affine form),
    or Q_s[:, :r]·Q_t[:, :r]ᵀ from two learned rotations (orthogonal form, no bias)."""

    def __init__(
        self, d_source: int, d_target: int, rank: int | None, bias: bool, init: Init, generator: torch.Generator,
        form: Form = "affine",
    ) -> None:
        super().__init__()
        self.form = form
        self.rank = rank
        self.bias = nn.Parameter(torch.zeros(d_target)) if bias and form == "affine" else None
        if form == "orthogonal":
            if init != "random":
                raise MasError("an orthogonal stitch starts from random rotations; init must be 'random'")
            self.rank = rank or min(d_source, d_target)
            self.rotations = Rotations([d_source, d_target], seed=int(torch.randint(2**31, (1,), generator=generator)))
            return
        if init == "identity" and d_source != d_target:
            raise MasError(f"an identity-initialised stitch needs equal widths, not {d_source} and {d_target}")
        eye = torch.eye(d_source, d_target)
        if rank is None:
            random = torch.randn(d_source, d_target, generator=generator) / math.sqrt(d_source)
            self.weight = nn.Parameter(eye if init == "identity" else random)
        else:
            left = eye[:, :rank] if init == "identity" else torch.randn(d_source, rank, generator=generator) / math.sqrt(d_source)
            right = eye[:rank] if init == "identity" else torch.randn(rank, d_target, generator=generator) / math.sqrt(rank)
            self.left, self.right = nn.Parameter(left), nn.Parameter(right)

    def affine(self) -> Affine:
        if self.form == "orthogonal":
            source, target = self.rotations.matrices()
            return source[:, : self.rank] @ target[:, : self.rank].T, None
        weight = self.weight if self.rank is None else self.left @ self.right
        return weight, self.bias

    def inverse(self) -> Affine:
        """The map serving the reverse direction: the exact transpose of an orthogonal stitch, else the
        pseudo-inverse (and the bias undone)."""
        weight, bias = self.affine()
        if self.form == "orthogonal":
            return weight.T, None
        inverse = torch.linalg.pinv(weight)
        return inverse, None if bias is None else -bias @ inverse


class Stitches(nn.Module):
    """One stitch layer per trained direction."""

    def __init__(self, layers: dict[Direction, StitchLayer]) -> None:
        super().__init__()
        self.directions = list(layers)
        self.layers = nn.ModuleDict({_key(d): layer for d, layer in layers.items()})

    def matrices(self) -> dict[Direction, Affine]:
        """(W, b) of every direction it can serve, built once per step; reverses by `StitchLayer.inverse`."""
        out = {d: self.layers[_key(d)].affine() for d in self.directions}
        for s, t in self.directions:
            if (t, s) not in out:
                out[(t, s)] = self.layers[_key((s, t))].inverse()
        return out


@dataclass(frozen=True)
class LinearStitch:
    """The stitching site map: the target's state is replaced by the stitched source state."""

    directions: tuple[Direction, ...]
    rank: int | None = None
    bias: bool = False
    init: Init = "random"
    form: Form = "affine"

    def build(self, widths: Sequence[int], seed: int) -> Stitches:
        generator = torch.Generator().manual_seed(seed)
        return Stitches({
            (s, t): StitchLayer(widths[s], widths[t], self.rank, self.bias, self.init, generator, self.form)
            for s, t in self.directions
        })

    def place(self, maps: Stitches, devices: Sequence[torch.device]) -> Stitches:
        """Each stitch sits with its source, whose states it reads."""
        for s, t in maps.directions:
            maps.layers[_key((s, t))].to(devices[s])
        return maps

    def check(self, widths: Sequence[int]) -> None:
        if not self.directions:
            raise MasError("a stitch needs at least one direction")
        for s, t in self.directions:
            if not (0 <= s < len(widths) and 0 <= t < len(widths)):
                raise MasError(f"stitch direction {s}->{t} names a model that is not there ({len(widths)} models)")
            if self.rank is not None and not 1 <= self.rank <= min(widths[s], widths[t]):
                raise MasError(f"stitch rank {self.rank} is outside 1..{min(widths[s], widths[t])} (the site widths)")

    def encode(self, mats: dict[Direction, Affine], direction: Direction, states: torch.Tensor) -> torch.Tensor:
        if direction not in mats:
            raise MasError(f"no stitch serves direction {direction[0]}->{direction[1]} (trained: {sorted(self.directions)})")
        weight, bias = mats[direction]
        # A reverse served by a pseudo-inverse was built where its forward stitch lives: it crosses here.
        out = states @ weight.to(states.device, states.dtype)
        return out if bias is None else out + bias.to(states.device, states.dtype)

    def decode(self, mats: dict[Direction, Affine], target: int, encoded: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return encoded.to(rows.dtype)
