"""Figures: matplotlib with a file backend, written atomically like every other output."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mas.io import atomic_write_bytes  # noqa: E402


def interval_yerr(points: Sequence[dict]) -> list[list[float]]:
    """Matplotlib's asymmetric error bars from points holding "mean", "low" and "high" (a bootstrap interval)."""
    return [[p["mean"] - p["low"] for p in points], [p["high"] - p["mean"] for p in points]]


def save_figure(fig: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())


def iia_heatmap(
    matrix: Sequence[Sequence[float | None]], labels: Sequence[str], path: Path, title: str = "IIA (held-out)"
) -> None:
    """An n×n heat map, rows = source model, columns = target model, each cell annotated."""
    n = len(labels)
    values = [[float("nan") if v is None else v for v in row] for row in matrix]
    fig, ax = plt.subplots(figsize=(1.4 * n + 2.2, 1.2 * n + 1.6))
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis")
    for s in range(n):
        for t in range(n):
            if matrix[s][t] is not None:
                ax.text(t, s, f"{matrix[s][t]:.2f}", ha="center", va="center", color="white" if values[s][t] < 0.6 else "black")
    ax.set_xticks(range(n), labels, rotation=30, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("target (receives)")
    ax.set_ylabel("source (gives)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    save_figure(fig, path)
