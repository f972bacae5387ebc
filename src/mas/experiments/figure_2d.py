"""Figure 2d: IIA against subspace size k for DAS and MAS, and against rank r for model stitching.

GRU vs GRU on Multi-Object, every pair of the task models' seeds. DAS is scored in each model's own
directions (0->0, 1->1), MAS and stitching across models (0->1, 1->0). The stitch is the reference's
orthogonal rank-r map without bias; the free affine map is drawn beside it as a labelled extra.
Every job trains until its protocol's stopping rule (see `mas.experiments.sweep.SHARED`) and
keeps its best evaluation; each point is the mean over runs (model pairs × alignment seeds) with a
95 % bootstrap interval that resamples model pairs, then runs within each. Points where a run
stopped at the step ceiling are marked. Every job is a sweep row, so an interrupted figure resumes
from its table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from mas.evaluate import bootstrap_interval
from mas.experiments.outputs import OUTPUTS
from mas.experiments.sweep import SweepFigure, SweepSpec, figure_rows, write_figure
from mas.plots import interval_yerr, plt, save_figure
from mas.runner import JobRunner

HEADLINE = {"das": "self", "mas": "cross", "stitch": "cross", "affine_stitch": "cross"}
LABELS = {"das": "DAS (k)", "mas": "MAS (k)", "stitch": "Orthogonal stitch (rank r)",
          "affine_stitch": "Affine stitch with bias (rank r, extra)"}


class Figure2d(SweepFigure):
    """The grid and the budget: every job trains until its stopping rule, at most `steps`."""

    OWN: ClassVar[dict[str, dict]] = {
        "paper": {"ks": [1, 2, 4, 16, 64], "ranks": [1, 2, 4, 16, 64], "methods": ["das", "mas", "stitch", "affine_stitch"]},
        "quick": {"ks": [1, 4, 16, 64], "ranks": [1, 4, 16, 128], "methods": ["das", "mas", "affine_stitch"]},
    }
    OWN_REFERENCE: ClassVar[dict[str, tuple[str, str]]] = {
        "ks": ("2, 4, 16 (sweep script)", "1 and 64 added to show both ends"),
        "ranks": ("2, 4, 16, orthogonal, no bias", ""),
        "methods": ("DAS, MAS, orthogonal stitch", "the affine stitch with bias is an extra, labelled curve"),
    }

    ks: list[int] = Field(min_length=1, description="subspace sizes k of DAS and MAS")
    ranks: list[int] = Field(min_length=1, description="stitch ranks r (128, the width, is full rank)")
    methods: list[Literal["das", "mas", "stitch", "affine_stitch"]] = Field(
        min_length=1, description="das, mas, stitch (orthogonal), affine_stitch")

    def spec(self, models: list[Path]) -> SweepSpec:
        return SweepSpec(models=models, methods=self.methods, ks=self.ks, ranks=self.ranks, **self.budget())


def points(rows: list[dict]) -> list[dict]:
    """One point per method and size: the headline IIA's mean over runs with its 95 % bootstrap interval
    (model pairs resampled, then runs), the steps each run trained and how many stopped at the ceiling."""
    out = []
    for method, field in HEADLINE.items():
        for size in sorted({r["size"] for r in rows if r["method"] == method}):
            mine = [r for r in rows if r["method"] == method and r["size"] == size]
            out.append({"method": method, "size": size, "scored": field,
                        **bootstrap_interval([r[field] for r in mine], groups=[r["pair"] for r in mine]).as_dict(),
                        "steps": [r["steps"] for r in mine],
                        "at_ceiling": sum(r.get("stop_reason") == "ceiling" for r in mine)})
    return out


def paired_gaps(rows: list[dict]) -> dict[int, list[tuple[str, float]]]:
    """Per k, DAS (own directions) minus MAS (cross directions) of the same model pair and seed, with its pair."""
    das = {(r["size"], r["pair"], r["seed"]): r["self"] for r in rows if r["method"] == "das"}
    mas = {(r["size"], r["pair"], r["seed"]): r["cross"] for r in rows if r["method"] == "mas"}
    out: dict[int, list[tuple[str, float]]] = {}
    for key in sorted(das.keys() & mas.keys()):
        out.setdefault(key[0], []).append((key[1], das[key] - mas[key]))
    return out


def mas_gaps(rows: list[dict]) -> list[dict]:
    """Per k, the mean DAS − MAS gap with its interval: does MAS approach DAS?"""
    return [{"k": k, **bootstrap_interval([g for _, g in gaps], groups=[p for p, _ in gaps]).as_dict()}
            for k, gaps in paired_gaps(rows).items()]


def stitch_plateau(points_: list[dict], method: str = "stitch") -> int | None:
    """The smallest stitch rank whose interval reaches the best rank's mean: where stitching stops gaining."""
    stitches = [p for p in points_ if p["method"] == method]
    if not stitches:
        return None
    best = max(p["mean"] for p in stitches)
    return min(p["size"] for p in stitches if p["high"] >= best)


def plot(points_: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for method, label in LABELS.items():
        mine = [p for p in points_ if p["method"] == method]
        if mine:
            x = [p["size"] for p in mine]
            style = {"linestyle": "dotted", "alpha": 0.7} if method.startswith("affine") else {}
            line = ax.errorbar(x, [p["mean"] for p in mine], yerr=interval_yerr(mine), marker="o", capsize=3,
                               label=label, **style)
            ceiling = [p for p in mine if p["at_ceiling"]]
            ax.scatter([p["size"] for p in ceiling], [p["mean"] for p in ceiling], s=110, facecolors="none",
                       edgecolors=line[0].get_color(), linewidths=1.2)
    ax.scatter([], [], s=110, facecolors="none", edgecolors="grey", label="a run stopped at the step ceiling")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("subspace size k / stitch rank r")
    ax.set_ylabel("held-out IIA (mean, 95 % interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Multi-Object GRU vs GRU ({points_[0]['n']} runs per point)" if points_ else "Multi-Object GRU vs GRU")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def run_figure_2d(
    config: Figure2d, out: Path, table: Path, show_progress: bool = True, runner: JobRunner | None = None
) -> dict:
    """Train or reuse the GRUs, run (or resume) every pair's sweep, then write the PNG and its tables."""
    start = time.perf_counter()
    rows = figure_rows(config, config.spec, table, show_progress, runner)

    def draw(rows: list[dict], png: Path) -> dict:
        summary = {"points": points(rows), "das_minus_mas": mas_gaps(rows)}
        summary["stitch_plateau_rank"] = stitch_plateau(summary["points"])
        plot(summary["points"], png)
        return summary

    columns = ["method", "size", "pair", "seed", "self", "cross", "iia_0->0", "iia_1->1", "iia_0->1", "iia_1->0",
               "steps", "stop_reason", "selected_step", "seconds"]
    return write_figure(config, rows, out, table, OUTPUTS["2d"], draw, columns, time.perf_counter() - start)
