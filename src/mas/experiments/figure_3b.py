"""Figure 3b: how well the Multi-Object GRU's count transfers into GRUs trained on other tasks.

For each family, MAS between the Multi-Object GRU (the reference) and that family's GRU in all four
directions on the count variable (Arithmetic: rem_ops), beside DAS within the family's model (the
upper bound). DAS within the reference is drawn as a line. Models are trained on first use.

Each MAS or DAS run is a resumable job: its result is kept in `<out>.parts/` with the inputs that
produced it, so a figure interrupted on a busy machine (or extended by a family) redoes only what
changed. The jobs run on a `mas.runner` job runner; Ray workers read the models from the models
folder, which they must see at the same path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field

from mas.align import AlignConfig
from mas.errors import MasError
from mas.experiments.cross_task import CrossTaskJob, run_cross_task
from mas.io import read_json, staged_folder, write_csv, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.plots import plt, save_figure
from mas.runner import JobRunner, Part, Resources, cached_map
from mas.tasks import TASKS

REFERENCE = "multi_object"
FAMILIES = ("multi_object", "rounding", "modulo", "same_object", "arithmetic")
BARS = ("ref->ref", "ref->family", "family->ref", "family->family", "das_family")
COLUMNS = ("family", "reference_model", "family_model", "family_accuracy", *BARS, "das_reference", "mas_steps",
           "seconds")


class Figure3bConfig(BaseModel):
    """What to compare and how long to train; defaults fit about an hour on two CPU cores."""

    models_dir: Path = Path("runs/models")
    families: list[str] = Field(default_factory=lambda: list(FAMILIES), min_length=1)
    reference_seed: int = 0
    family_seed: int = Field(0, description="seed of each family's GRU; Multi-Object uses reference_seed + 1")
    k: int = Field(32, ge=1)
    steps: int = Field(500, ge=1, description="maximum MAS/DAS steps per run")
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(128, ge=1, description="pairs per direction per step")
    train_pairs: int = Field(2048, ge=1)
    validation_pairs: int = Field(256, ge=1, description="pairs per direction that decide early stopping")
    test_pairs: int = Field(500, ge=1)
    seed: int = 0

    def job(self, models: list[Path]) -> CrossTaskJob:
        align = AlignConfig(k=self.k, steps=self.steps, lr=self.lr, batch_size=self.batch_size, seed=self.seed)
        return CrossTaskJob(models=models, train_pairs=self.train_pairs, validation_pairs=self.validation_pairs,
                            test_pairs=self.test_pairs, align=align)

    def family_model(self, family: str) -> TrainConfig:
        seed = self.reference_seed + 1 if family == REFERENCE else self.family_seed
        return TrainConfig(task=family, arch="gru", seed=seed)


def part(job: CrossTaskJob, parts: Path) -> Part:
    """The run of `job`, kept in `parts/` with the job and its models' configs (retrained models run again)."""
    key = {"job": job.model_dump(mode="json"), "models": [read_json(m / "config.json") for m in job.models]}
    name = "+".join(m.name for m in job.models)
    return Part(parts / f"{name}.json", key, job, ("MAS " if len(job.models) > 1 else "DAS ") + name)


def run_part(_: None, job: CrossTaskJob) -> dict:
    """One part's job, in the form a job runner calls."""
    return run_cross_task(job, show_progress=False)


def describe(result: dict) -> str:
    return ", ".join(f"{d} {v:.3f}" for d, v in result["iia"].items())


def run_figure_3b(
    cfg: Figure3bConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print,
    runner: JobRunner | None = None,
) -> dict:
    """Train or reuse the GRUs, run MAS per family and DAS per model, write the PNG, CSV and JSON."""
    unknown = [f for f in cfg.families if f not in TASKS]
    if unknown:
        raise MasError(f"unknown task family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
    start = time.perf_counter()
    parts = out.with_name(f"{out.name}.parts")
    reference = ensure_model(TrainConfig(task=REFERENCE, arch="gru", seed=cfg.reference_seed), cfg.models_dir, show_progress)
    folders = [ensure_model(cfg.family_model(family), cfg.models_dir, show_progress) for family in cfg.families]
    jobs = [part(cfg.job(models), parts) for folder in folders for models in ([reference, folder], [folder])]
    jobs.append(part(cfg.job([reference]), parts))
    results = cached_map(runner or JobRunner(), run_part, None, jobs, describe, Resources(cpus=1), show_progress)
    rows, runs = [], {}
    for family, folder, mas, das in zip(cfg.families, folders, results[0::2], results[1::2]):
        iia = mas["iia"]
        row = {
            "family": family, "reference_model": reference.name, "family_model": folder.name,
            "family_accuracy": read_json(folder / "config.json")["heldout_accuracy"],
            "ref->ref": iia["0->0"], "ref->family": iia["0->1"], "family->ref": iia["1->0"],
            "family->family": iia["1->1"], "das_family": das["iia"]["0->0"],
            "mas_steps": mas["steps"], "seconds": round(mas["seconds"] + das["seconds"], 1),
        }
        rows.append(row)
        runs[family] = {"mas": mas, "das": das}
        log(", ".join(f"{key} {row[key]:.3f}" for key in BARS) + f"  [{family}, {row['seconds']:.0f} s]")
    das_reference = results[-1]["iia"]["0->0"]
    log(f"DAS {reference.name}: {das_reference:.3f}")
    rows = [{**row, "das_reference": das_reference} for row in rows]
    seconds = round(time.perf_counter() - start, 1)
    results = {"rows": rows, "runs": runs, "seconds": seconds, "config": cfg.model_dump(mode="json")}
    with staged_folder(out, "figure 3b", cfg) as folder:
        write_json(folder / "results.json", results)
        write_csv(folder / "table.csv", rows, COLUMNS)
        _plot(rows, folder / "figure_3b.png")
    return results


def _plot(rows: list[dict], path: Path) -> None:
    labels = {"ref->ref": "MO → MO", "ref->family": "MO → family", "family->ref": "family → MO",
              "family->family": "family → family", "das_family": "DAS (family)"}
    width = 0.8 / len(BARS)
    fig, ax = plt.subplots(figsize=(1.9 * len(rows) + 2.5, 4))
    for i, bar in enumerate(BARS):
        xs = [j + (i - (len(BARS) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, [r[bar] for r in rows], width, label=labels[bar])
    ax.axhline(rows[0]["das_reference"], color="black", linestyle="--", linewidth=1, label="DAS (Multi-Object)")
    ticks = [f"{r['family'].replace('_', '-')}\n(held-out acc {r['family_accuracy']:.2f})" for r in rows]
    ax.set_xticks(range(len(rows)), ticks, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out IIA (trial accuracy)")
    ax.set_title("Transfer of the count variable from the Multi-Object GRU (MO)")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    save_figure(fig, path)
