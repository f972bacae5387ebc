"""CKA and RSA against independent references, their invariances, and their input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import calc_rdm
from rsatoolbox.rdm import compare as rsatoolbox_compare
from scipy.stats import ortho_group

from mas.errors import MasError
from mas.similarity import MEASURES, StreamingLinearCKA, cka_cosine, cka_euclidean, cka_linear, compare, rdm, rsa

REL = 1e-6


def _pair(n: int = 60, d1: int = 9, d2: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated X, Y with offsets, so centring matters."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d1)) + rng.normal(size=d1) * 3
    y = np.tanh(x @ rng.normal(size=(d1, d2))) + 0.5 * rng.normal(size=(n, d2)) + 2.0
    return x, y


# --- reference: HSIC written out with n×n Gram matrices and the centring matrix H --------------


def _ref_zscore(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)


def _ref_gram(a: np.ndarray, kernel: str) -> np.ndarray:
    if kernel == "linear":
        return a @ a.T
    if kernel == "cosine":
        unit = a / np.sqrt((a**2).sum(axis=1, keepdims=True))
        return unit @ unit.T
    diff = a[:, None, :] - a[None, :, :]
    return -np.sqrt((diff**2).sum(axis=2))


def _ref_hsic_biased(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def _ref_hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (
        np.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ kt @ lt @ one)
    ) / (n * (n - 3))


def _ref_cka(x: np.ndarray, y: np.ndarray, kernel: str, debiased: bool, zscore: bool) -> float:
    if zscore:
        x, y = _ref_zscore(x), _ref_zscore(y)
    k, l = _ref_gram(x, kernel), _ref_gram(y, kernel)
    hsic = _ref_hsic_unbiased if debiased else _ref_hsic_biased
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


CKA = {"linear": cka_linear, "cosine": cka_cosine, "euclidean": cka_euclidean}


@pytest.mark.parametrize("kernel", list(CKA))
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("zscore", [False, True])
@pytest.mark.parametrize("shape", [(60, 9, 6), (8, 20, 3)])
def test_cka_matches_direct_hsic(kernel: str, debiased: bool, zscore: bool, shape: tuple[int, int, int]) -> None:
    x, y = _pair(*shape)
    got = CKA[kernel](x, y, debiased=debiased, zscore=zscore)
    assert got == pytest.approx(_ref_cka(x, y, kernel, debiased, zscore), rel=REL)
    assert isinstance(got, float)


# --- reference: rsatoolbox ------------------------------------------------------------------


def _ref_rdm_vector(a: np.ndarray, metric: str) -> np.ndarray:
    """rsatoolbox's RDM, rescaled to our definition (it divides squared distances by the width)."""
    d = a.shape[1]
    if metric == "correlation":
        return calc_rdm(Dataset(a), method="correlation").get_vectors()[0]
    if metric == "cosine":
        unit = a / np.linalg.norm(a, axis=1, keepdims=True)
        return calc_rdm(Dataset(unit), method="euclidean").get_vectors()[0] * d / 2.0
    squared = calc_rdm(Dataset(a), method="euclidean").get_vectors()[0] * d
    return squared if metric == "sqeuclidean" else np.sqrt(squared)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean", "correlation"])
@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_rsa_matches_rsatoolbox(metric: str, method: str) -> None:
    x, y = _pair(n=50)
    a, b = _ref_rdm_vector(x, metric), _ref_rdm_vector(y, metric)
    ref = rsatoolbox_compare(a, b, method={"spearman": "spearman", "pearson": "corr"}[method])[0, 0]
    assert rsa(x, y, metric=metric, compare=method) == pytest.approx(ref, rel=REL)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean", "correlation"])
def test_rdm_entries_match_rsatoolbox(metric: str) -> None:
    x, _ = _pair(n=30)
    ours = rdm(x, metric)
    upper = ours[np.triu_indices(30, k=1)]
    np.testing.assert_allclose(upper, _ref_rdm_vector(x, metric), rtol=REL, atol=1e-12)
    np.testing.assert_array_equal(ours, ours.T)


def test_spearman_handles_tied_dissimilarities() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(20, 2)).astype(float) + 1.0
    y = x + rng.integers(0, 2, size=(20, 2))
    ref = rsatoolbox_compare(_ref_rdm_vector(x, "euclidean"), _ref_rdm_vector(y, "euclidean"), method="spearman")
    assert rsa(x, y, metric="euclidean") == pytest.approx(ref[0, 0], rel=REL)


# --- invariances and the streaming form -------------------------------------------------------


@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_invariant_to_rotation_and_isotropic_scaling(debiased: bool) -> None:
    x, y = _pair(n=80)
    base = cka_linear(x, y, debiased=debiased)
    qx, qy = ortho_group.rvs(9, random_state=1), ortho_group.rvs(6, random_state=2)
    assert cka_linear(x @ qx * 7.5, y, debiased=debiased) == pytest.approx(base, rel=REL)
    assert cka_linear(x, 0.01 * y @ qy, debiased=debiased) == pytest.approx(base, rel=REL)


@pytest.mark.parametrize("measure", [name for name in MEASURES if name.startswith("rsa_")])
def test_rsa_invariant_to_unit_permutation(measure: str) -> None:
    x, y = _pair(n=40)
    perm = np.random.default_rng(5).permutation(x.shape[1])
    assert MEASURES[measure](x[:, perm], y) == pytest.approx(MEASURES[measure](x, y), rel=REL)


@pytest.mark.parametrize("fn", [cka_linear, cka_cosine])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("zscore", [False, True])
def test_streaming_equals_in_memory(fn, debiased: bool, zscore: bool) -> None:
    x, y = _pair(n=203)
    whole = fn(x, y, debiased=debiased, zscore=zscore, chunk_rows=10_000)
    assert fn(x, y, debiased=debiased, zscore=zscore, chunk_rows=17) == pytest.approx(whole, rel=1e-10)


def test_streaming_accumulator_over_uneven_chunks() -> None:
    x, y = _pair(n=150)
    for debiased in (False, True):
        acc = StreamingLinearCKA(debiased=debiased)
        for start, stop in ((0, 1), (1, 64), (64, 150)):
            acc.update(torch.from_numpy(x[start:stop]).float(), y[start:stop])
        ref = _ref_cka(x.astype(np.float32).astype(np.float64), y, "linear", debiased, False)
        assert acc.score() == pytest.approx(ref, rel=REL)


def test_large_offsets_do_not_spoil_linear_cka() -> None:
    x, y = _pair(n=500)
    assert cka_linear(x + 1e6, y - 1e6, chunk_rows=64) == pytest.approx(cka_linear(x, y), rel=1e-6)


def test_rows_near_the_origin_are_used_unshifted_and_match_the_reference() -> None:
    """Means within a standard deviation: the streamed products run on the rows as they are."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(300, 7)) * 2 + 0.3).astype(np.float32)
    y = (np.tanh(x @ rng.normal(size=(7, 5))) - 0.1).astype(np.float32)
    ref = _ref_cka(x.astype(np.float64), y.astype(np.float64), "linear", False, False)
    assert cka_linear(x, y, chunk_rows=50) == pytest.approx(ref, rel=1e-5)
    assert cka_linear(x + 50, y, chunk_rows=50) == pytest.approx(ref, rel=1e-4)  # shifted again


def test_torch_and_numpy_inputs_agree() -> None:
    x, y = _pair()
    assert compare(torch.from_numpy(x), torch.from_numpy(y)) == compare(x, y)


def test_self_similarity_is_one() -> None:
    x, _ = _pair()
    scores = compare(x, x.copy())
    assert all(value == pytest.approx(1.0, rel=1e-9) for value in scores.values())


# --- the registry and bad input -------------------------------------------------------------


def test_registry_names_and_compare() -> None:
    expected = {f"cka_{k}{s}" for k in CKA for s in ("", "_debiased")}
    expected |= {f"rsa_{m}_{c}" for m in ("cosine", "euclidean", "sqeuclidean", "correlation")
                 for c in ("spearman", "pearson")}
    assert set(MEASURES) == expected
    x, y = _pair()
    scores = compare(x, y, ["cka_linear", "rsa_cosine_spearman"], zscore=True)
    assert list(scores) == ["cka_linear", "rsa_cosine_spearman"]
    assert scores["cka_linear"] == cka_linear(x, y, zscore=True)
    with pytest.raises(MasError, match="unknown similarity measure"):
        compare(x, y, ["cka_nonsense"])


def test_four_rows_give_finite_values_for_every_measure() -> None:
    x, y = _pair(n=4, d1=5, d2=3)
    for name, fn in MEASURES.items():
        try:
            value = fn(x, y)
        except MasError:
            assert "debiased" in name
        else:
            assert np.isfinite(value), name


def _bad_inputs() -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    x, y = _pair(n=20)
    nan_x, inf_y, const_x = x.copy(), y.copy(), x.copy()
    nan_x[3, 2], inf_y[0, 0], const_x[:, 1] = np.nan, np.inf, 4.0
    return [
        ("few rows", x[:3], y[:3], "at least 4 rows"),
        ("row mismatch", x, y[:-1], "same rows"),
        ("nan", nan_x, y, "NaN or inf"),
        ("inf", x, inf_y, "NaN or inf"),
        ("1-d", x[:, 0], y, "2-D"),
    ]


@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("case", _bad_inputs(), ids=lambda c: c[0])
def test_bad_input_raises_mas_error(measure: str, case) -> None:
    _, x, y, message = case
    with pytest.raises(MasError, match=message):
        MEASURES[measure](x, y)


@pytest.mark.parametrize("measure", list(MEASURES))
def test_constant_column_refused_only_under_zscore(measure: str) -> None:
    x, y = _pair(n=20)
    x[:, 1] = 4.0
    assert np.isfinite(MEASURES[measure](x, y))
    with pytest.raises(MasError, match="constant column"):
        MEASURES[measure](x, y, zscore=True)


@pytest.mark.parametrize("measure", list(MEASURES))
def test_constant_matrix_refused(measure: str) -> None:
    x, y = _pair(n=20)
    with pytest.raises(MasError):
        MEASURES[measure](np.full_like(x, 2.5), y)


def test_other_bad_arguments() -> None:
    x, y = _pair()
    with pytest.raises(MasError, match="unknown RDM metric"):
        rsa(x, y, metric="manhattan")
    with pytest.raises(MasError, match="unknown RDM comparison"):
        rsa(x, y, compare="kendall")
    with pytest.raises(MasError, match="all-zero row"):
        cka_cosine(np.vstack([np.zeros(9), x]), np.vstack([np.ones(6), y]))
    with pytest.raises(MasError, match="n×n"):
        cka_euclidean(np.zeros((10_001, 2)), np.zeros((10_001, 2)))
    with pytest.raises(MasError, match="chunk widths"):
        StreamingLinearCKA().update(x, y).update(x[:, :3], y)
