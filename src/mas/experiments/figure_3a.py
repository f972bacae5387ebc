"""Figure 3a: aligning with a model that can be recorded but not intervened on.

CLMAS, latent stitching and behavioural stitching, each scored behaviourally in the Access
direction (inaccessible -> accessible) and the No Access direction (accessible -> inaccessible),
with MAS trained on full access as the dashed upper bound.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from pydantic import BaseModel, Field

from mas.experiments.sweep import SweepSpec, run_sweep, write_csv
from mas.io import staged_folder, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.plots import plt, save_figure

METHODS = {"clmas": "CLMAS", "latent_stitch": "Latent stitch", "behavioural_stitch": "Behavioural stitch"}
SIDES = ("access", "no_access")


class Figure3a(BaseModel):
    """Settings of the four trainings; the defaults took 16 min on two heavily shared CPU cores."""

    models_dir: Path = Path("runs/models")
    model_seeds: tuple[int, int] = (0, 1)
    inaccessible: int = 1
    k: int = Field(32, ge=1, description="subspace size of CLMAS and of the MAS upper bound")
    rank: int = Field(128, ge=1, description="rank of both stitches (the width: full rank)")
    cl_weight: float = 1.0
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    steps: int = Field(250, ge=1)
    lr: float = Field(5e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    train_pairs: int = Field(4096, ge=1)
    test_pairs: int = Field(1000, ge=1)
    whole_state: bool = Field(
        False, description="only pairs whose counterfactual state is all the source's (see SweepSpec); off, stitches "
        "must also guess the target's other variables, which CLMAS keeps from the target",
    )
    latent_sequences: int = Field(2000, ge=1)

    def spec(self, models: list[Path]) -> SweepSpec:
        return SweepSpec(
            models=models, methods=["mas", *METHODS], ks=[self.k], ranks=[self.rank], seeds=self.seeds,
            steps=self.steps, lr=self.lr, batch_size=self.batch_size, train_pairs=self.train_pairs,
            test_pairs=self.test_pairs, whole_state=self.whole_state, inaccessible=self.inaccessible, cl_weight=self.cl_weight,
            latent_sequences=self.latent_sequences,
        )


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


def run_figure_3a(config: Figure3a, out: Path, table: Path, show_progress: bool = True) -> dict:
    """Train or reuse both GRUs, run (or resume) the four trainings, then write the PNG and its tables."""
    start = time.perf_counter()
    models = [ensure_model(TrainConfig(task="multi_object", arch="gru", seed=s), config.models_dir, show_progress)
              for s in config.model_seeds]
    rows = run_sweep(config.spec(models), table, show_progress)
    summary = {"bars": bars(rows), "rows": rows, "config": config.model_dump(mode="json"),
               "table": str(table), "seconds": round(time.perf_counter() - start, 2)}
    with staged_folder(out) as folder:
        plot(summary["bars"], folder / "figure_3a.png")
        write_csv(folder / "figure_3a.csv", rows,
                  ["method", "size", "seed", "access", "no_access", "steps", "selected_step", "latent_pairs",
                   "latent_pairs_dropped", "seconds"])
        write_json(folder / "figure_3a.json", summary)
    return summary
