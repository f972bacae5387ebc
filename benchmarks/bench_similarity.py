"""Timings of the similarity measures, each as a ratio against a baseline timed in the same run.

    python benchmarks/bench_similarity.py          # a table
    python benchmarks/bench_similarity.py --json   # the table, then one JSON line

Linear CKA: the streamed feature-space form (d×d sums) against the n×n Gram form at the same n,
and at n = 100,000 (where the n×n form would need 80 GB per matrix) against the plain numpy
feature formula ‖YᵀX‖²/(‖XᵀX‖‖YᵀY‖) after centring, at whatever thread count the environment sets.
RSA: ours against rsatoolbox's RDM + comparison at n = 1,000, with the values checked equal.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import numpy as np
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import calc_rdm, compare

from mas.similarity import cka_gram, cka_linear, rsa
from mas.similarity._linalg import gram

WIDTH = 128
BIG_N = 100_000
GRAM_N = 8_000
RSA_N = 1_000


def best_time(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Fastest wall time over `repeats` calls, and the value of the last call."""
    times, value = [], float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def activations(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 activation matrices that share part of their structure, as models' would."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, WIDTH), dtype=np.float32)
    mix = rng.standard_normal((WIDTH, WIDTH)).astype(np.float32) / np.sqrt(WIDTH)
    y = np.tanh(x @ mix) + 0.5 * rng.standard_normal((n, WIDTH), dtype=np.float32)
    return x, y


def bench_cka() -> list[dict]:
    x, y = activations(GRAM_N)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    gram_s, gram_value = best_time(lambda: cka_gram(gram(x64), gram(y64)), 2)
    feature_s, feature_value = best_time(lambda: cka_linear(x64, y64), 5)
    assert abs(feature_value - gram_value) <= 1e-9 * abs(gram_value), (feature_value, gram_value)
    big_x, big_y = activations(BIG_N, seed=1)
    numpy_s, numpy_value = best_time(lambda: numpy_cka(big_x, big_y), 3)
    big_s, big_value = best_time(lambda: cka_linear(big_x, big_y), 3)
    assert abs(big_value - numpy_value) <= 1e-6 * abs(numpy_value), (big_value, numpy_value)
    return [
        row(f"linear CKA n×n Gram form, n={GRAM_N}", gram_s, gram_s, gram_value),
        row(f"linear CKA feature form, n={GRAM_N}", feature_s, gram_s, feature_value),
        row(f"linear CKA plain numpy formula, n={BIG_N}", numpy_s, numpy_s, numpy_value),
        row(f"linear CKA feature form, n={BIG_N}", big_s, numpy_s, big_value),
    ]


def numpy_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA as a few lines of numpy would compute it."""
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def bench_rsa() -> list[dict]:
    x, y = (a.astype(np.float64) for a in activations(RSA_N, seed=2))
    rows = []
    for metric in ("euclidean", "correlation"):
        ref_s, ref = best_time(
            lambda: float(compare(calc_rdm(Dataset(x), method=metric), calc_rdm(Dataset(y), method=metric), method="spearman")[0, 0]),
            3,
        )
        ours_s, ours = best_time(lambda: rsa(x, y, metric=metric, compare="spearman"), 3)
        assert abs(ours - ref) <= 1e-9 * abs(ref), (metric, ours, ref)
        rows += [row(f"RSA {metric}/spearman rsatoolbox, n={RSA_N}", ref_s, ref_s, ref), row(f"RSA {metric}/spearman ours, n={RSA_N}", ours_s, ref_s, ours)]
    return rows


def row(name: str, seconds: float, baseline_seconds: float, value: float) -> dict:
    return {"case": name, "seconds": round(seconds, 4), "vs_baseline": round(seconds / baseline_seconds, 4), "value": value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all results")
    args = parser.parse_args()
    rows = bench_cka() + bench_rsa()
    print(f"{'case':<46} {'seconds':>9} {'× baseline':>11} {'value':>10}")
    for r in rows:
        print(f"{r['case']:<46} {r['seconds']:>9.4f} {r['vs_baseline']:>11.4f} {r['value']:>10.6f}")
    if args.json:
        print(json.dumps({"benchmark": "similarity", "width": WIDTH, "results": rows}))


if __name__ == "__main__":
    main()
