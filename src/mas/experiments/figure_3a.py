"""Figure 3a: aligning with a model that can be recorded but not intervened on.

CLMAS, latent stitching and behavioural stitching, each scored behaviourally in the Access
direction (inaccessible -> accessible) and the No Access direction (accessible -> inaccessible),
with MAS trained on full access as the dashed upper bound.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pydantic import Field

from mas.experiments.sweep import SweepFigure, SweepSpec, run_sweep_figure
from mas.plots import plt, save_figure
from mas.runner import JobRunner

METHODS = {"clmas": "CLMAS", "latent_stitch": "Latent stitch", "behavioural_stitch": "Behavioural stitch"}
SIDES = ("access", "no_access")


class Figure3a(SweepFigure):
    """Settings of the four trainings; the defaults took 16 min on two heavily shared CPU cores."""

    inaccessible: int = 1
    k: int = Field(32, ge=1, description="subspace size of CLMAS and of the MAS upper bound")
    rank: int = Field(128, ge=1, description="rank of both stitches (the width: full rank)")
    cl_weight: float = 1.0
    steps: int = Field(250, ge=1)
    whole_state: bool = Field(
        False, description="only pairs whose counterfactual state is all the source's (see SweepSpec); off, stitches "
        "must also guess the target's other variables, which CLMAS keeps from the target",
    )
    latent_sequences: int = Field(2000, ge=1)

    def spec(self, models: list[Path]) -> SweepSpec:
        return SweepSpec(models=models, methods=["mas", *METHODS], ks=[self.k], ranks=[self.rank], steps=self.steps,
                         whole_state=self.whole_state, inaccessible=self.inaccessible, cl_weight=self.cl_weight,
                         latent_sequences=self.latent_sequences, **self.budget())


def bars(rows: list[dict]) -> list[dict]:
    """Mean Access and No Access IIA of each method (MAS included), with the range over seeds."""
    out = []
    for method in ["mas", *METHODS]:
        mine = [r for r in rows if r["method"] == method]
        for side in SIDES:
            values = [r[side] for r in mine]
            if values:
                out.append({"method": method, "side": side, "iia": statistics.fmean(values), "low": min(values),
                            "high": max(values), "seeds": len(values)})
    return out


def plot(bars_: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    width = 0.8 / len(METHODS)
    for i, (method, label) in enumerate(METHODS.items()):
        mine = {b["side"]: b for b in bars_ if b["method"] == method}
        x = [j + (i - (len(METHODS) - 1) / 2) * width for j in range(len(SIDES))]
        y = [mine[s]["iia"] for s in SIDES]
        err = [[mine[s]["iia"] - mine[s]["low"] for s in SIDES], [mine[s]["high"] - mine[s]["iia"] for s in SIDES]]
        ax.bar(x, y, width, yerr=err, capsize=3, label=label)
    upper = {b["side"]: b["iia"] for b in bars_ if b["method"] == "mas"}
    for j, side in enumerate(SIDES):
        ax.hlines(upper[side], j - 0.45, j + 0.45, colors="black", linestyles="dashed",
                  label="MAS, full access" if j == 0 else None)
    ax.set_xticks(range(len(SIDES)), ["Access", "No Access"])
    ax.set_ylabel("held-out IIA (trial accuracy)")
    ax.set_ylim(0, 1.2)
    ax.set_title("Multi-Object GRUs, one model inaccessible")
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=2)
    save_figure(fig, path)


def run_figure_3a(
    config: Figure3a, out: Path, table: Path, show_progress: bool = True, runner: JobRunner | None = None
) -> dict:
    """Train or reuse both GRUs, run (or resume) the four trainings, then write the PNG and its tables."""

    def draw(rows: list[dict], png: Path) -> dict:
        summary = {"bars": bars(rows)}
        plot(summary["bars"], png)
        return summary

    columns = ["method", "size", "seed", "access", "no_access", "steps", "selected_step", "latent_pairs",
               "latent_pairs_dropped", "seconds"]
    return run_sweep_figure(config, config.spec, out, table, "figure_3a", draw, columns, show_progress, runner)
