"""Figure 2d: IIA against subspace size k for DAS and MAS, and against rank r for model stitching.

GRU vs GRU on Multi-Object (two seeds of the task model). DAS is scored in each model's own
directions (0->0, 1->1), MAS and stitching across models (0->1, 1->0). Every point is a sweep row,
so an interrupted figure resumes from its table.
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

HEADLINE = {"das": "self", "mas": "cross", "stitch": "cross"}
LABELS = {"das": "DAS (k)", "mas": "MAS (k)", "stitch": "Stitching (rank r)"}


class Figure2d(BaseModel):
    """The grid and the budget; the defaults took about 40 min on two heavily shared CPU cores."""

    models_dir: Path = Path("runs/models")
    model_seeds: tuple[int, int] = (0, 1)
    ks: list[int] = Field(default_factory=lambda: [1, 4, 16, 64])
    ranks: list[int] = Field(default_factory=lambda: [1, 4, 16, 128])
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    steps: int = Field(150, ge=1)
    lr: float = Field(5e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    train_pairs: int = Field(4096, ge=1)
    test_pairs: int = Field(1000, ge=1)
    whole_state: bool = Field(True, description="only pairs whose counterfactual state is all the source's (see SweepSpec)")

    def spec(self, models: list[Path]) -> SweepSpec:
        return SweepSpec(
            models=models, methods=["das", "mas", "stitch"], ks=self.ks, ranks=self.ranks, seeds=self.seeds,
            steps=self.steps, lr=self.lr, batch_size=self.batch_size, train_pairs=self.train_pairs,
            test_pairs=self.test_pairs, whole_state=self.whole_state,
        )


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


def run_figure_2d(config: Figure2d, out: Path, table: Path, show_progress: bool = True) -> dict:
    """Train or reuse both GRUs, run (or resume) the sweep, then write the PNG and its tables."""
    start = time.perf_counter()
    models = [ensure_model(TrainConfig(task="multi_object", arch="gru", seed=s), config.models_dir, show_progress)
              for s in config.model_seeds]
    rows = run_sweep(config.spec(models), table, show_progress)
    summary = {"points": points(rows), "rows": rows, "config": config.model_dump(mode="json"),
               "table": str(table), "seconds": round(time.perf_counter() - start, 2)}
    with staged_folder(out) as folder:
        plot(summary["points"], folder / "figure_2d.png")
        write_csv(folder / "figure_2d.csv", [{**r, **{f"iia_{k}": v for k, v in r["iia"].items()}} for r in rows],
                  ["method", "size", "seed", "self", "cross", "iia_0->0", "iia_1->1", "iia_0->1", "iia_1->0", "steps", "seconds"])
        write_json(folder / "figure_2d.json", summary)
    return summary
