"""The alignment methods between two models, as library objects: what each trains and how it is scored.

Every method is one site map trained by `AlignmentTrainer` on some directions and scored on others;
a `Method` says which, and `Method.plan` gives the `Plan` of one training at a size (the subspace
size k of a rotation, the rank r of a stitch).

- das: one rotation per model, only the self directions 0->0 and 1->1 (two DAS runs in one).
- mas: one rotation per model, all four directions.
- stitch: a rank-r orthogonal stitch (no bias, the reference's form) per cross direction, trained on
  behaviour; affine_stitch: the same with a free affine map (see `mas.align.stitching`).
- clmas, latent_stitch, behavioural_stitch: one model is inaccessible (behaviour is never trained
  into it). CLMAS: behaviour into the accessible model, ε × CL loss into the inaccessible one.
  Latent stitch: a stitch into the inaccessible model trained on the CL loss alone. Behavioural
  stitch: a stitch into the accessible model. Stitches are scored the other way by their
  transpose (orthogonal) or pseudo-inverse (affine_latent_stitch, affine_behavioural_stitch). As in
  the paper, the kept parameters are those with the best No Access validation IIA.

"Access" is the direction inaccessible -> accessible, "No Access" accessible -> inaccessible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from mas.align.interchange import Interchange
from mas.align.maps import Direction, SiteMap
from mas.align.stitching import LinearStitch
from mas.align.trainer import all_directions

MethodName = Literal[
    "das", "mas", "stitch", "clmas", "latent_stitch", "behavioural_stitch",
    "affine_stitch", "affine_latent_stitch", "affine_behavioural_stitch",
]
SiteMapKind = Literal["rotation", "orthogonal_stitch", "affine_stitch"]


@dataclass(frozen=True)
class Roles:
    """Which of two models behaviour is never trained into, and the two cross directions that follow."""

    inaccessible: int = 1

    @property
    def accessible(self) -> int:
        return 1 - self.inaccessible

    @property
    def access(self) -> Direction:
        return (self.inaccessible, self.accessible)

    @property
    def no_access(self) -> Direction:
        return (self.accessible, self.inaccessible)


@dataclass(frozen=True)
class Routes:
    """The directions of one training: trained on behaviour, trained on counterfactual latents (the CL
    loss), validated and tested (`scored`), and those whose validation IIA picks the kept parameters
    (None: every scored direction)."""

    behaviour: list[Direction]
    latent: list[Direction]
    scored: list[Direction]
    select: list[Direction] | None = None


@dataclass(frozen=True)
class Plan:
    """One training of a method: the site map it fits, and its directions."""

    site_map: SiteMap
    routes: Routes


@dataclass(frozen=True)
class Method:
    """An alignment method: the kind of site map it trains and the directions it uses."""

    name: MethodName
    site_map: SiteMapKind
    routes: Callable[[Roles], Routes]

    @property
    def sized_by(self) -> Literal["k", "rank"]:
        """A rotation is sized by its subspace k, a stitch by its rank r."""
        return "k" if self.site_map == "rotation" else "rank"

    def plan(self, size: int, widths: list[int], inaccessible: int = 1) -> Plan:
        """The training of this method at `size` between two models of site widths `widths`; a stitch whose
        rank is the smaller width is full rank."""
        routes = self.routes(Roles(inaccessible))
        if self.site_map == "rotation":
            site_map: SiteMap = Interchange(size)
        else:
            affine = self.site_map == "affine_stitch"
            rank = None if size == min(widths) else size
            site_map = LinearStitch(tuple(routes.behaviour + routes.latent), rank=rank, bias=affine,
                                    form="affine" if affine else "orthogonal")
        return Plan(site_map, routes)


def _self(_: Roles) -> Routes:
    return Routes([(0, 0), (1, 1)], [], [(0, 0), (1, 1)])


def _all(_: Roles) -> Routes:
    return Routes(all_directions(2), [], all_directions(2))


def _cross(_: Roles) -> Routes:
    return Routes([(0, 1), (1, 0)], [], [(0, 1), (1, 0)])


def _clmas(r: Roles) -> Routes:
    """Behaviour into the accessible model (its own direction and Access), latents into the inaccessible one."""
    return Routes([(r.accessible, r.accessible), r.access], [r.no_access, (r.inaccessible, r.inaccessible)],
                  all_directions(2), [r.no_access])


def _latent_stitch(r: Roles) -> Routes:
    return Routes([], [r.no_access], [r.access, r.no_access], [r.no_access])


def _behavioural_stitch(r: Roles) -> Routes:
    return Routes([r.access], [], [r.access, r.no_access], [r.no_access])


def _registry() -> dict[str, Method]:
    methods = [Method("das", "rotation", _self), Method("mas", "rotation", _all), Method("clmas", "rotation", _clmas)]
    for prefix, kind in (("", "orthogonal_stitch"), ("affine_", "affine_stitch")):
        for name, routes in (("stitch", _cross), ("latent_stitch", _latent_stitch),
                             ("behavioural_stitch", _behavioural_stitch)):
            methods.append(Method(prefix + name, kind, routes))  # type: ignore[arg-type]
    return {m.name: m for m in methods}


METHODS: dict[str, Method] = _registry()
"""Method name → `Method`: every name of `MethodName`."""
