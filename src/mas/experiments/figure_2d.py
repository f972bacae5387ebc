"""Figure 2d: IIA against subspace size k for DAS and MAS, and against rank r for model stitching.

GRU vs GRU on Multi-Object (two seeds of the task model). DAS is scored in each model's own
directions (0->0, 1->1), MAS and stitching across models (0->1, 1->0). Every job trains until its
validation IIA stops improving (patience, with a step ceiling) and keeps its best evaluation; each
point is the mean over alignment seeds with a 95 % bootstrap interval. Every job is a sweep row, so
an interrupted figure resumes from its table.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pydantic import Field

from mas.evaluate import bootstrap_interval
from mas.experiments.sweep import SweepFigure, SweepSpec, run_sweep_figure
from mas.plots import interval_yerr, plt, save_figure
from mas.runner import JobRunner

HEADLINE = {"das": "self", "mas": "cross", "stitch": "cross"}
LABELS = {"das": "DAS (k)", "mas": "MAS (k)", "stitch": "Stitching (rank r)"}


class Figure2d(SweepFigure):
    """The grid and the budget: every job trains until validation stops improving, at most `steps`."""

    ks: list[int] = Field(default_factory=lambda: [1, 4, 16, 64])
    ranks: list[int] = Field(default_factory=lambda: [1, 4, 16, 128])
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    steps: int = Field(600, ge=1, description="step ceiling of every job")
    eval_every: int = Field(25, ge=1, description="steps between validation checks")
    patience: int = Field(4, ge=1, description="validation checks without improvement before a job stops")
    whole_state: bool = Field(True, description="only pairs whose counterfactual state is all the source's (see SweepSpec)")

    def spec(self, models: list[Path]) -> SweepSpec:
        return SweepSpec(models=models, methods=["das", "mas", "stitch"], ks=self.ks, ranks=self.ranks,
                         steps=self.steps, eval_every=self.eval_every, patience=self.patience,
                         whole_state=self.whole_state, **self.budget())


def points(rows: list[dict]) -> list[dict]:
    """One point per method and size: the headline IIA's mean over seeds with its 95 % bootstrap
    interval, and the steps each seed's job trained before validation stopped improving."""
    out = []
    for method, field in HEADLINE.items():
        for size in sorted({r["size"] for r in rows if r["method"] == method}):
            mine = [r for r in rows if r["method"] == method and r["size"] == size]
            out.append({"method": method, "size": size, "scored": field,
                        **bootstrap_interval([r[field] for r in mine]).as_dict(),
                        "steps": [r["steps"] for r in mine], "mean_steps": statistics.fmean(r["steps"] for r in mine)})
    return out


def mas_gaps(rows: list[dict]) -> list[dict]:
    """Per k, DAS (own directions) minus MAS (cross directions) of the same seed: does MAS approach DAS?"""
    das = {(r["size"], r["seed"]): r["self"] for r in rows if r["method"] == "das"}
    mas = {(r["size"], r["seed"]): r["cross"] for r in rows if r["method"] == "mas"}
    out = []
    for k in sorted({size for size, _ in das.keys() & mas.keys()}):
        gaps = [das[key] - mas[key] for key in sorted(das.keys() & mas.keys()) if key[0] == k]
        out.append({"k": k, **bootstrap_interval(gaps).as_dict()})
    return out


def stitch_plateau(points_: list[dict]) -> int | None:
    """The smallest stitch rank whose interval reaches the best rank's mean: where stitching stops gaining."""
    stitches = [p for p in points_ if p["method"] == "stitch"]
    if not stitches:
        return None
    best = max(p["mean"] for p in stitches)
    return min(p["size"] for p in stitches if p["high"] >= best)


def plot(points_: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for method, label in LABELS.items():
        mine = [p for p in points_ if p["method"] == method]
        if mine:
            x = [p["size"] for p in mine]
            ax.errorbar(x, [p["mean"] for p in mine], yerr=interval_yerr(mine), marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("subspace size k / stitch rank r")
    ax.set_ylabel("held-out IIA (mean, 95 % interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Multi-Object GRU vs GRU ({points_[0]['n']} seeds)" if points_ else "Multi-Object GRU vs GRU")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def run_figure_2d(
    config: Figure2d, out: Path, table: Path, show_progress: bool = True, runner: JobRunner | None = None
) -> dict:
    """Train or reuse both GRUs, run (or resume) the sweep, then write the PNG and its tables."""

    def draw(rows: list[dict], png: Path) -> dict:
        summary = {"points": points(rows), "das_minus_mas": mas_gaps(rows)}
        summary["stitch_plateau_rank"] = stitch_plateau(summary["points"])
        plot(summary["points"], png)
        return summary

    columns = ["method", "size", "seed", "self", "cross", "iia_0->0", "iia_1->1", "iia_0->1", "iia_1->0", "steps", "selected_step", "seconds"]
    return run_sweep_figure(config, config.spec, out, table, "figure_2d", draw, columns, show_progress, runner)
