"""The alignment methods as library objects: every method a sweep accepts has one, each plans the
site map and directions the paper describes, and a sweep grid sizes rotations by k, stitches by r."""

from __future__ import annotations

from typing import get_args

from mas.align import Interchange, LinearStitch
from mas.align.methods import METHODS, MethodName
from mas.experiments.sweep import SweepSpec


def test_every_method_name_has_one_method() -> None:
    assert set(METHODS) == set(get_args(MethodName))


def test_das_and_mas_train_one_rotation_per_model_on_their_directions() -> None:
    das, mas = METHODS["das"].plan(8, [48, 48]), METHODS["mas"].plan(8, [48, 48])
    assert isinstance(das.site_map, Interchange) and isinstance(mas.site_map, Interchange)
    assert das.routes.behaviour == das.routes.scored == [(0, 0), (1, 1)]
    assert sorted(mas.routes.behaviour) == sorted(mas.routes.scored) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert das.routes.latent == mas.routes.latent == []


def test_clmas_never_trains_behaviour_into_the_inaccessible_model() -> None:
    for inaccessible in (0, 1):
        routes = METHODS["clmas"].plan(4, [48, 48], inaccessible).routes
        accessible = 1 - inaccessible
        assert all(target == accessible for _, target in routes.behaviour)
        assert all(target == inaccessible for _, target in routes.latent)
        assert routes.select == [(accessible, inaccessible)]  # No Access picks the kept parameters


def test_stitches_are_sized_by_rank_full_at_the_smaller_width() -> None:
    full, low = METHODS["stitch"].plan(48, [48, 64]), METHODS["affine_latent_stitch"].plan(4, [48, 64], 1)
    assert isinstance(full.site_map, LinearStitch) and isinstance(low.site_map, LinearStitch)
    assert (full.site_map.rank, full.site_map.form, full.site_map.bias) == (None, "orthogonal", False)
    assert (low.site_map.rank, low.site_map.form, low.site_map.bias) == (4, "affine", True)
    assert full.site_map.directions == ((0, 1), (1, 0)) and low.site_map.directions == ((0, 1),)
    assert METHODS["stitch"].sized_by == "rank" and METHODS["clmas"].sized_by == "k"
    assert low.routes.behaviour == [] and low.routes.latent == [(0, 1)]
    spec = SweepSpec(models=["a", "b"], methods=["mas", "stitch"], ks=[2, 8], ranks=[16])
    assert [(j.method, j.size) for j in spec.jobs()] == [("mas", 2), ("stitch", 16), ("mas", 8)]
