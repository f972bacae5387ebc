"""Figures: matplotlib with a file backend, written atomically like every other output."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mas.io import atomic_write_bytes  # noqa: E402

if TYPE_CHECKING:
    import numpy as np


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


def zoo_figure(
    matrices: dict[str, Sequence[Sequence[float | None]]], labels: Sequence[str], order: Sequence[int],
    linkage: np.ndarray, path: Path,
) -> None:
    """The dendrogram of the first matrix's clustering beside every matrix, all in that leaf order.

    Rows and columns follow the dendrogram, so blocks of similar models sit on the diagonal; the
    same order in every panel shows where causal (IIA) and correlational (CKA, RSA) similarity differ.
    """
    from scipy.cluster.hierarchy import dendrogram

    n = len(labels)
    names = [labels[i] for i in order]
    side = 0.32 * n + 2.5
    fig, axes = plt.subplots(1, len(matrices) + 1, figsize=(side * len(matrices) + 2.0, side),
                             gridspec_kw={"width_ratios": [0.35, *[1.0] * len(matrices)], "wspace": 0.5})
    dendrogram(linkage, orientation="left", ax=axes[0], no_labels=True, color_threshold=0, above_threshold_color="0.3")
    axes[0].set_ylim(10 * n, 0)  # scipy puts leaf i at 10i + 5: the first leaf level with the heat maps' first row
    axes[0].set_xlabel("1 − sym. IIA")
    axes[0].set_yticks([])
    for spine in ("top", "right", "left"):
        axes[0].spines[spine].set_visible(False)
    for ax, (title, matrix) in zip(axes[1:], matrices.items()):
        values = [[float("nan") if matrix[s][t] is None else matrix[s][t] for t in order] for s in order]
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")  # rows as tall as the leaves
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names if ax is axes[1] else [], fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=list(axes[1:]), fraction=0.02, pad=0.02)
    save_figure(fig, path)


def embedding_plot(points: np.ndarray, labels: Sequence[str], groups: Sequence[str], path: Path) -> None:
    """Models as points in 2-D (classical MDS of 1 − symmetrised IIA), coloured by task group."""
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = {g: f"C{i}" for i, g in enumerate(dict.fromkeys(groups))}
    for group, colour in colours.items():
        where = [i for i, g in enumerate(groups) if g == group]
        ax.scatter(points[where, 0], points[where, 1], color=colour, label=group)
    for (x, y), label in zip(points, labels):
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    ax.set_title("models by 1 − symmetrised IIA")
    ax.legend(fontsize=7)
    save_figure(fig, path)
