"""Figure 2d: IIA against subspace size k for DAS and MAS, and against rank r for model stitching.

GRU vs GRU on Multi-Object (two seeds of the task model). DAS is scored in each model's own
directions (0->0, 1->1), MAS and stitching across models (0->1, 1->0). Every point is a sweep row,
so an interrupted figure resumes from its table.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pydantic import Field

from mas.experiments.sweep import SweepFigure, SweepSpec, run_sweep_figure
from mas.plots import plt, save_figure
from mas.runner import JobRunner

HEADLINE = {"das": "self", "mas": "cross", "stitch": "cross"}
LABELS = {"das": "DAS (k)", "mas": "MAS (k)", "stitch": "Stitching (rank r)"}


class Figure2d(SweepFigure):
    """The grid and the budget; the defaults took about 40 min on two heavily shared CPU cores."""

    ks: list[int] = Field(default_factory=lambda: [1, 4, 16, 64])
    ranks: list[int] = Field(default_factory=lambda: [1, 4, 16, 128])
    steps: int = Field(150, ge=1)
    whole_state: bool = Field(True, description="only pairs whose counterfactual state is all the source's (see SweepSpec)")

    def spec(self, models: list[Path]) -> SweepSpec:
        return SweepSpec(models=models, methods=["das", "mas", "stitch"], ks=self.ks, ranks=self.ranks,
                         steps=self.steps, whole_state=self.whole_state, **self.budget())


def points(rows: list[dict]) -> list[dict]:
    """One point per method and size: the headline IIA, averaged over seeds, with its range."""
    out = []
    for method, field in HEADLINE.items():
        for size in sorted({r["size"] for r in rows if r["method"] == method}):
            values = [r[field] for r in rows if r["method"] == method and r["size"] == size]
            out.append({"method": method, "size": size, "iia": statistics.fmean(values), "low": min(values),
                        "high": max(values), "seeds": len(values), "scored": field})
    return out


def plot(points_: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for method, label in LABELS.items():
        mine = [p for p in points_ if p["method"] == method]
        if mine:
            x = [p["size"] for p in mine]
            y = [p["iia"] for p in mine]
            err = [[p["iia"] - p["low"] for p in mine], [p["high"] - p["iia"] for p in mine]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("subspace size k / stitch rank r")
    ax.set_ylabel("held-out IIA (trial accuracy)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Multi-Object GRU vs GRU")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def run_figure_2d(
    config: Figure2d, out: Path, table: Path, show_progress: bool = True, runner: JobRunner | None = None
) -> dict:
    """Train or reuse both GRUs, run (or resume) the sweep, then write the PNG and its tables."""

    def draw(rows: list[dict], png: Path) -> dict:
        summary = {"points": points(rows)}
        plot(summary["points"], png)
        return summary

    columns = ["method", "size", "seed", "self", "cross", "iia_0->0", "iia_1->1", "iia_0->1", "iia_1->0", "steps", "seconds"]
    return run_sweep_figure(config, config.spec, out, table, "figure_2d", draw, columns, show_progress, runner)
