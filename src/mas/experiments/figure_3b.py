"""Figure 3b: how well the Multi-Object GRU's count transfers into GRUs trained on other tasks.

For each family, MAS between the Multi-Object GRU (the reference) and that family's GRU in all four
directions, beside DAS within the family's model (the upper bound). DAS within the reference is
drawn as a line. Each model is aligned on the variable its GRU is best described by: the count
(Arithmetic: rem_ops), except Same-Object, whose GRUs track a "remaining" count formed at the
trigger (`mas same-object-study`); pairs between two families take each side's value and labels
from that side's own causal model (see `mas.experiments.cross_task`). Every run is repeated per
alignment seed; a bar is the mean over seeds with a 95 % bootstrap interval. Models are trained on
first use.

Each MAS or DAS run is a resumable job: its result is kept in `<out>.parts/` with the inputs that
produced it, so a figure interrupted on a busy machine (or extended by a family or a seed) redoes
only what changed. The jobs run on a `mas.runner` job runner; Ray workers read the models from the
models folder, which they must see at the same path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field

from mas.align import AlignConfig
from mas.errors import MasError
from mas.evaluate import bootstrap_interval
from mas.experiments.cross_task import CrossTaskJob, run_cross_task
from mas.io import read_json, write_csv, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.plots import interval_yerr, plt, save_figure
from mas.run_folder import staged_folder
from mas.runner import JobRunner, Part, Resources, cached_map
from mas.tasks import TASKS, make_causal_model

REFERENCE = "multi_object"
FAMILIES = ("multi_object", "rounding", "modulo", "same_object", "arithmetic")
BARS = ("ref->ref", "ref->family", "family->ref", "family->family", "das_family")
# Same-Object GRUs track the D's still to answer, a count formed at the trigger (`mas same-object-study`).
SAME_OBJECT_VARIABLE = "same_object=remaining.remaining"
COLUMNS = ("family", "variable", "seed", "reference_model", "family_model", "family_accuracy", *BARS, "das_reference",
           "mas_steps", "seconds")


class Variable(BaseModel):
    """A causal variable and the causal model of the task's sequences that gives it its values."""

    variable: str
    causal_model: str | None = Field(None, description="a name in mas.tasks.CAUSAL_MODELS[task]; none: the task's own")

    @classmethod
    def parse(cls, text: str) -> Variable:
        """`MODEL.VARIABLE`, or a bare `VARIABLE` of the task's own causal model."""
        model, _, variable = text.strip().rpartition(".")
        return cls(variable=variable, causal_model=model or None)

    def __str__(self) -> str:
        return f"{self.causal_model}.{self.variable}" if self.causal_model else self.variable


def parse_variables(text: str) -> dict[str, Variable]:
    """`FAMILY=[MODEL.]VARIABLE` items, comma-separated (e.g. "same_object=remaining.remaining")."""
    chosen = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        family, sep, variable = item.partition("=")
        if not sep or not family.strip() or not variable.strip():
            raise MasError(f"--variables item {item!r} is not FAMILY=[MODEL.]VARIABLE")
        chosen[family.strip()] = Variable.parse(variable)
    return chosen


class Figure3bConfig(BaseModel):
    """What to compare and how long to train; one seed of the defaults took 18 min on one shared thread."""

    models_dir: Path = Path("runs/models")
    families: list[str] = Field(default_factory=lambda: list(FAMILIES), min_length=1)
    variables: dict[str, Variable] = Field(
        default_factory=lambda: parse_variables(SAME_OBJECT_VARIABLE),
        description="per family, the variable its models are aligned on; a family not listed: its task's first "
        "variable. Same-Object's GRUs track a remaining count (see mas same-object-study)",
    )
    reference_seed: int = 0
    family_seed: int = Field(0, description="seed of each family's GRU; Multi-Object uses reference_seed + 1")
    k: int = Field(32, ge=1)
    steps: int = Field(500, ge=1, description="maximum MAS/DAS steps per run")
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(128, ge=1, description="pairs per direction per step")
    train_pairs: int = Field(2048, ge=1)
    validation_pairs: int = Field(256, ge=1, description="pairs per direction that decide early stopping")
    test_pairs: int = Field(500, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1,
                             description="alignment seeds (pairs and rotations); each bar is their mean")

    def variable(self, family: str) -> Variable:
        return self.variables.get(family) or Variable(variable=TASKS[family].variables[0])

    def check(self) -> None:
        """Refuse an unknown family, causal model or variable before any model is trained."""
        unknown = [f for f in [*self.families, *self.variables] if f not in TASKS]
        if unknown:
            raise MasError(f"unknown task family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
        for family in {REFERENCE, *self.families}:
            chosen = self.variable(family)
            model = make_causal_model(family, chosen.causal_model)
            if chosen.variable not in model.variables:
                raise MasError(f"{family}'s causal model {chosen.causal_model or family!r} has no variable "
                               f"{chosen.variable!r} (has {', '.join(model.variables)})")
        if len(set(self.seeds)) != len(self.seeds):
            raise MasError("--seeds lists a seed twice")

    def job(self, models: list[Path], families: list[str], seed: int) -> CrossTaskJob:
        """Alignment of `models` (of `families`) on each family's variable, with alignment seed `seed`."""
        chosen = [self.variable(f) for f in families]
        align = AlignConfig(k=self.k, steps=self.steps, lr=self.lr, batch_size=self.batch_size, seed=seed)
        return CrossTaskJob(models=models, variables=[v.variable for v in chosen],
                            causal_models=[v.causal_model for v in chosen], train_pairs=self.train_pairs,
                            validation_pairs=self.validation_pairs, test_pairs=self.test_pairs, align=align)

    def family_model(self, family: str) -> TrainConfig:
        seed = self.reference_seed + 1 if family == REFERENCE else self.family_seed
        return TrainConfig(task=family, arch="gru", seed=seed)


def part(job: CrossTaskJob, parts: Path) -> Part:
    """The run of `job`, kept in `parts/` with the job and its models' configs (retrained models run again).

    Unset optional settings (None) are left out of the key, so adding one keeps the parts run before.
    """
    key = {"job": job.model_dump(mode="json", exclude_none=True),
           "models": [read_json(m / "config.json") for m in job.models]}
    name = "+".join(m.name for m in job.models)
    return Part(parts / f"{name}-seed{job.align.seed}.json", key, job,
                ("MAS " if len(job.models) > 1 else "DAS ") + f"{name} seed {job.align.seed}")


def run_part(_: None, job: CrossTaskJob) -> dict:
    """One part's job, in the form a job runner calls."""
    return run_cross_task(job, show_progress=False)


def describe(result: dict) -> str:
    return ", ".join(f"{d} {v:.3f}" for d, v in result["iia"].items())


def run_figure_3b(
    cfg: Figure3bConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print,
    runner: JobRunner | None = None,
) -> dict:
    """Train or reuse the GRUs, run MAS per family and DAS per model for every seed, write the PNG, CSV and JSON."""
    cfg.check()
    start = time.perf_counter()
    parts = out.with_name(f"{out.name}.parts")
    reference = ensure_model(TrainConfig(task=REFERENCE, arch="gru", seed=cfg.reference_seed), cfg.models_dir, show_progress)
    folders = [ensure_model(cfg.family_model(family), cfg.models_dir, show_progress) for family in cfg.families]
    jobs = []
    for seed in cfg.seeds:  # seed by seed, so an interrupted run has whole seeds done
        for family, folder in zip(cfg.families, folders):
            jobs.append(part(cfg.job([reference, folder], [REFERENCE, family], seed), parts))
            jobs.append(part(cfg.job([folder], [family], seed), parts))
        jobs.append(part(cfg.job([reference], [REFERENCE], seed), parts))
    results = cached_map(runner or JobRunner(), run_part, None, jobs, describe, Resources(cpus=1), show_progress)
    per_seed = 2 * len(cfg.families) + 1
    rows, runs, das_references = [], {}, []
    for s, seed in enumerate(cfg.seeds):
        mine = results[s * per_seed: (s + 1) * per_seed]
        das_reference = mine[-1]["iia"]["0->0"]
        das_references.append(das_reference)
        for family, folder, mas, das in zip(cfg.families, folders, mine[0:-1:2], mine[1:-1:2]):
            rows.append(_row(cfg, family, seed, reference, folder, mas, das, das_reference))
            runs[f"{family}/seed{seed}"] = {"mas": mas, "das": das}
            log(", ".join(f"{key} {rows[-1][key]:.3f}" for key in BARS)
                + f"  [{family} ({rows[-1]['variable']}), seed {seed}, {rows[-1]['seconds']:.0f} s]")
        runs[f"reference/seed{seed}"] = {"das": mine[-1]}
        log(f"DAS {reference.name} ({cfg.variable(REFERENCE)}), seed {seed}: {das_reference:.3f}")
    results = {
        "rows": rows, "bars": bars(rows), "das_reference": bootstrap_interval(das_references).as_dict(),
        "variables": {f: cfg.variable(f).model_dump() for f in dict.fromkeys([REFERENCE, *cfg.families])},
        "runs": runs, "seconds": round(time.perf_counter() - start, 1), "config": cfg.model_dump(mode="json"),
    }
    with staged_folder(out, "figure 3b", cfg) as folder:
        write_json(folder / "results.json", results)
        write_csv(folder / "table.csv", rows, COLUMNS)
        _plot(results, folder / "figure_3b.png")
    return results


def _row(cfg: Figure3bConfig, family: str, seed: int, reference: Path, folder: Path, mas: dict, das: dict,
         das_reference: float) -> dict:
    iia = mas["iia"]
    return {
        "family": family, "variable": str(cfg.variable(family)), "seed": seed, "reference_model": reference.name,
        "family_model": folder.name, "family_accuracy": read_json(folder / "config.json")["heldout_accuracy"],
        "ref->ref": iia["0->0"], "ref->family": iia["0->1"], "family->ref": iia["1->0"],
        "family->family": iia["1->1"], "das_family": das["iia"]["0->0"], "das_reference": das_reference,
        "mas_steps": mas["steps"], "seconds": round(mas["seconds"] + das["seconds"], 1),
    }


def bars(rows: list[dict]) -> list[dict]:
    """Per family: its variable, accuracy and every bar's mean over seeds with its 95 % bootstrap interval."""
    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        mine = [r for r in rows if r["family"] == family]
        out.append({"family": family, "variable": mine[0]["variable"], "family_accuracy": mine[0]["family_accuracy"],
                    **{bar: bootstrap_interval([r[bar] for r in mine]).as_dict() for bar in BARS}})
    return out


def _plot(results: dict, path: Path) -> None:
    labels = {"ref->ref": "MO → MO", "ref->family": "MO → family", "family->ref": "family → MO",
              "family->family": "family → family", "das_family": "DAS (family)"}
    families = results["bars"]
    width = 0.8 / len(BARS)
    fig, ax = plt.subplots(figsize=(1.9 * len(families) + 2.5, 4))
    for i, bar in enumerate(BARS):
        xs = [j + (i - (len(BARS) - 1) / 2) * width for j in range(len(families))]
        points = [f[bar] for f in families]
        ax.bar(xs, [p["mean"] for p in points], width, yerr=interval_yerr(points), capsize=2, label=labels[bar])
    line = results["das_reference"]
    ax.axhspan(line["low"], line["high"], color="black", alpha=0.12, linewidth=0)
    ax.axhline(line["mean"], color="black", linestyle="--", linewidth=1, label="DAS (Multi-Object)")
    ticks = [f"{f['family'].replace('_', '-')} ({f['variable'].rpartition('.')[2]})\n"
             f"(held-out acc {f['family_accuracy']:.2f})" for f in families]
    ax.set_xticks(range(len(families)), ticks, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out IIA (trial accuracy)")
    seeds = line["n"]
    ax.set_title(f"Transfer of the Multi-Object GRU's (MO) count\nmean over {seeds} alignment seed{'s' * (seeds > 1)}, "
                 "95 % bootstrap interval", fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    save_figure(fig, path)
