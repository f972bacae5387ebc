"""Figure 3b: how well the Multi-Object GRUs' count transfers into GRUs trained on other tasks.

For each family, MAS between a Multi-Object GRU (the reference) and that family's GRU in all four
directions, beside DAS within the family's model (the upper bound). DAS within the reference is
drawn as a line. Under the paper protocol every model carries its whole causal state (count and
phase; Arithmetic, which has no phase, its `rem_ops`), as the reference code swaps it; under the
quick protocol the count alone. Pairs between two families take each side's values and labels
from that side's own causal model (see `mas.experiments.cross_task`; Modulo takes a count written
in its response phase mod 4 again). Supplementary bars align a family on another variable, e.g.
Same-Object's "remaining" count (`mas same-object-study`), and are drawn and reported apart.

Every family has GRUs of several model seeds: pair i aligns reference GRU i with the family's GRU
i (Multi-Object's own GRUs take seeds after the reference's, so no model meets itself), each for
every alignment seed. A bar is the mean over runs with a 95 % bootstrap interval that resamples
model pairs, then alignment seeds within each.

Each MAS or DAS run is a resumable job: its result is kept in `<out>.parts/` with the inputs that
produced it, so a figure interrupted on a busy machine (or extended by a family or a seed) redoes
only what changed. The jobs run on a `mas.runner` job runner; Ray workers read the models from the
models folder, which they must see at the same path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mas.align import AlignConfig
from mas.errors import MasError
from mas.evaluate import bootstrap_interval
from mas.experiments.cross_task import CrossTaskJob, run_cross_task
from mas.experiments.outputs import OUTPUTS
from mas.experiments.sweep import REFERENCE as SWEEP_REFERENCE
from mas.experiments.sweep import Protocol, fill_protocol
from mas.io import read_json, write_csv, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.plots import interval_yerr, plt, save_figure
from mas.run_folder import staged_folder
from mas.runner import JobRunner, Part, Resources, cached_map
from mas.tasks import TASKS, make_causal_model

REFERENCE_TASK = "multi_object"
FAMILIES = ("multi_object", "rounding", "modulo", "same_object", "arithmetic")
PAPER_FAMILIES = ("multi_object", "rounding", "modulo", "same_object")  # the paper's caption
BARS = ("ref->ref", "ref->family", "family->ref", "family->family", "das_family")
# Same-Object GRUs track the D's still to answer, a count formed at the trigger (`mas same-object-study`).
SAME_OBJECT_VARIABLE = "same_object=remaining.remaining"
WHOLE_STATE = ("count", "phase")
COLUMNS = ("family", "variable", "supplementary", "pair", "seed", "reference_model", "family_model", "family_accuracy",
           *BARS, "das_reference", "das_minus_transfer", "mas_steps", "mas_stop_reason", "seconds")

# The settings of the sweep figures that 3b shares, with their presets (`mas.experiments.sweep.SHARED`).
SHARED_SETTINGS = ("lr", "lr_schedule", "batch_size", "steps", "eval_every", "patience", "stopping", "train_pairs",
                   "validation_pairs", "test_pairs")
OWN: dict[str, dict] = {
    "paper": {"families": list(PAPER_FAMILIES), "swap": "whole", "model_seeds": [0, 1], "seeds": [0, 1, 2], "k": 32},
    "quick": {"families": list(FAMILIES), "swap": "size", "model_seeds": [0, 1], "seeds": [0, 1, 2], "k": 32,
              "lr": 3e-3, "lr_schedule": "cosine", "batch_size": 128, "steps": 500, "eval_every": 50,
              "patience": None, "stopping": "validation", "train_pairs": 2048, "validation_pairs": 256,
              "test_pairs": 500},
}
OWN_REFERENCE: dict[str, tuple[str, str]] = {
    "families": ("Multi-Object, Rounding, Modulo, Same-Object (caption)", "Arithmetic is run under --protocol quick"),
    "swap": ("the whole state (count and phase) of every family, Same-Object included",
             "Arithmetic has no phase: it carries rem_ops"),
    "supplementary": ("none", "Same-Object on its remaining count, drawn apart and not judged"),
    "model_seeds": ("5 GRUs per family", "2 per family fit the 2-core budget; intervals resample the model pairs"),
    "seeds": ("one per run", "3 alignment seeds per model pair"),
    "k": ("32 (hidden state, single position)", ""),
}


class Variable(BaseModel):
    """Causal variables and the causal model of the task's sequences that gives them their values."""

    variables: list[str] = Field(min_length=1)
    causal_model: str | None = Field(None, description="a name in mas.tasks.CAUSAL_MODELS[task]; none: the task's own")

    @classmethod
    def parse(cls, text: str) -> Variable:
        """`MODEL.VARIABLE[+VARIABLE]`, or bare variables of the task's own causal model."""
        model, _, names = text.strip().rpartition(".")
        return cls(variables=[v.strip() for v in names.split("+")], causal_model=model or None)

    def __str__(self) -> str:
        names = "+".join(self.variables)
        return f"{self.causal_model}.{names}" if self.causal_model else names


def parse_variables(text: str) -> dict[str, Variable]:
    """`FAMILY=[MODEL.]VARIABLE[+VARIABLE]` items, comma-separated (e.g. "same_object=remaining.remaining")."""
    chosen = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        family, sep, variable = item.partition("=")
        if not sep or not family.strip() or not variable.strip():
            raise MasError(f"variables item {item!r} is not FAMILY=[MODEL.]VARIABLE")
        chosen[family.strip()] = Variable.parse(variable)
    return chosen


class Figure3bConfig(BaseModel):
    """What to compare and how long to train; `protocol` fills every setting not given (paper or quick)."""

    protocol: Protocol = "paper"
    models_dir: Path = Path("runs/models")
    families: list[str] = Field(min_length=1)
    swap: Literal["whole", "size"] = Field(
        description="whole: every family's whole causal state (count and phase; Arithmetic rem_ops), as the reference "
        "swaps it; size: the task's size variable alone (count, Arithmetic rem_ops)",
    )
    variables: dict[str, Variable] = Field(
        default_factory=dict, description="per family, variables to align on instead of those `swap` picks",
    )
    supplementary: dict[str, Variable] = Field(
        default_factory=lambda: parse_variables(SAME_OBJECT_VARIABLE),
        description="extra bars: per family, another variable its models are aligned on, drawn apart and not judged",
    )
    model_seeds: list[int] = Field(min_length=1, description="GRU seeds of every family; pair i: reference i, family i")
    seeds: list[int] = Field(min_length=1, description="alignment seeds (pairs and rotations) per model pair")
    k: int = Field(ge=1)
    steps: int = Field(ge=1, description="step ceiling of every MAS/DAS run")
    lr: float = Field(gt=0)
    lr_schedule: Literal["cosine", "constant"]
    batch_size: int = Field(ge=1, description="pairs per direction per step")
    eval_every: int = Field(ge=1)
    patience: int | None = Field(ge=1)
    stopping: Literal["validation", "reference"]
    train_pairs: int = Field(ge=1)
    validation_pairs: int = Field(ge=1, description="pairs per direction that decide early stopping")
    test_pairs: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _fill_from_protocol(cls, data: Any) -> Any:
        return fill_protocol(data, OWN, SHARED_SETTINGS)

    @field_validator("model_seeds", "seeds")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise MasError(f"a seed is listed twice: {values}")
        return values

    @model_validator(mode="after")
    def _models_under_paper(self) -> Figure3bConfig:
        if self.protocol == "paper" and len(self.model_seeds) < 2:
            raise MasError("--protocol paper needs at least 2 model seeds per family, so intervals sample models")
        return self

    def variable(self, family: str) -> Variable:
        """What `family`'s models carry in the primary bars."""
        if family in self.variables:
            return self.variables[family]
        task = TASKS[family]
        whole = [v for v in WHOLE_STATE if v in task.variables]
        return Variable(variables=whole if self.swap == "whole" and len(whole) == len(WHOLE_STATE)
                        else [task.variables[0]])

    def reference_variable(self, family: Variable) -> Variable:
        """What the reference carries against `family`: as many of its variables, count first."""
        whole = list(WHOLE_STATE)
        return Variable(variables=whole if family.variables == whole and family.causal_model is None
                        else whole[: len(family.variables)])

    def bars_to_run(self) -> list[tuple[str, Variable, bool]]:
        """(family, its variable, supplementary?) for every bar group, the primary ones first."""
        primary = [(f, self.variable(f), False) for f in self.families]
        return primary + [(f, v, True) for f, v in self.supplementary.items()]

    def check(self) -> None:
        """Refuse an unknown family, causal model or variable before any model is trained."""
        named = [*self.families, *self.variables, *self.supplementary]
        unknown = [f for f in named if f not in TASKS]
        if unknown:
            raise MasError(f"unknown task family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
        for family, chosen, _ in [(REFERENCE_TASK, self.variable(REFERENCE_TASK), False), *self.bars_to_run()]:
            model = make_causal_model(family, chosen.causal_model)
            missing = [v for v in chosen.variables if v not in model.variables]
            if missing:
                raise MasError(f"{family}'s causal model {chosen.causal_model or family!r} has no variable "
                               f"{missing[0]!r} (has {', '.join(model.variables)})")
            if len(chosen.variables) > len(WHOLE_STATE):
                raise MasError(f"{family} carries {len(chosen.variables)} variables; the reference has "
                               f"{len(WHOLE_STATE)} to match them")

    def align(self, seed: int) -> AlignConfig:
        return AlignConfig(k=self.k, steps=self.steps, lr=self.lr, lr_schedule=self.lr_schedule,
                           batch_size=self.batch_size, seed=seed, eval_every=self.eval_every, patience=self.patience,
                           stopping=self.stopping)

    def job(self, models: list[Path], chosen: list[Variable], seed: int) -> CrossTaskJob:
        """Alignment of `models`, each on its chosen variables, with alignment seed `seed`."""
        return CrossTaskJob(models=models, variables=[v.variables for v in chosen],
                            causal_models=[v.causal_model for v in chosen], train_pairs=self.train_pairs,
                            validation_pairs=self.validation_pairs, test_pairs=self.test_pairs, align=self.align(seed))

    def reference_model(self, index: int) -> TrainConfig:
        return TrainConfig(task=REFERENCE_TASK, arch="gru", seed=self.model_seeds[index])

    def family_model(self, family: str, index: int) -> TrainConfig:
        """Pair `index`'s GRU of `family`; Multi-Object's take seeds after every reference seed."""
        seed = self.model_seeds[index]
        if family == REFERENCE_TASK:
            seed = max(self.model_seeds) + 1 + index
        return TrainConfig(task=family, arch="gru", seed=seed)

    def protocol_table(self) -> list[dict]:
        """Each setting beside the reference code's value and, where they differ, why: for the report."""
        reference = {**{k: SWEEP_REFERENCE[k] for k in SHARED_SETTINGS}, **OWN_REFERENCE}
        return [{"setting": name, "ours": _plain(getattr(self, name)), "reference": ref, "why": why}
                for name, (ref, why) in reference.items()]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: str(v) for k, v in value.items()}
    return value


def part(job: CrossTaskJob, chosen: list[Variable], parts: Path) -> Part:
    """The run of `job`, kept in `parts/` with the job and its models' configs (retrained models run again).

    Unset optional settings (None) are left out of the key, so adding one keeps the parts run before.
    """
    key = {"job": job.model_dump(mode="json", exclude_none=True),
           "models": [read_json(m / "config.json") for m in job.models]}
    name = "+".join(m.name for m in job.models)
    carried = "+".join(str(v).replace("+", "&") for v in chosen)
    return Part(parts / f"{name}-{carried}-seed{job.align.seed}.json", key, job,
                ("MAS " if len(job.models) > 1 else "DAS ") + f"{name} on {carried} seed {job.align.seed}")


def run_part(_: None, job: CrossTaskJob) -> dict:
    """One part's job, in the form a job runner calls."""
    return run_cross_task(job, show_progress=False)


def describe(result: dict) -> str:
    return ", ".join(f"{d} {v:.3f}" for d, v in result["iia"].items())


def run_figure_3b(
    cfg: Figure3bConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print,
    runner: JobRunner | None = None,
) -> dict:
    """Train or reuse the GRUs, run MAS per family and model pair and DAS per model for every seed, write the
    PNG, CSV and JSON."""
    cfg.check()
    start = time.perf_counter()
    parts_dir = out.with_name(f"{out.name}.parts")
    pairs = range(len(cfg.model_seeds))
    references = [ensure_model(cfg.reference_model(i), cfg.models_dir, show_progress) for i in pairs]
    groups = cfg.bars_to_run()
    folders = {(f, i): ensure_model(cfg.family_model(f, i), cfg.models_dir, show_progress)
               for f in dict.fromkeys(f for f, _, _ in groups) for i in pairs}
    reference_variable = cfg.variable(REFERENCE_TASK)
    planned: dict[Path, Part] = {}
    slots = []  # per row: (family, variable, supplementary, pair index, seed, MAS part, DAS part, reference DAS part)
    for seed in cfg.seeds:  # seed by seed, so an interrupted run has whole seeds done
        for i in pairs:
            das_ref = part(cfg.job([references[i]], [reference_variable], seed), [reference_variable], parts_dir)
            planned.setdefault(das_ref.path, das_ref)
            for family, chosen, extra in groups:
                against = cfg.reference_variable(chosen)
                mas = part(cfg.job([references[i], folders[family, i]], [against, chosen], seed), [against, chosen],
                           parts_dir)
                das = part(cfg.job([folders[family, i]], [chosen], seed), [chosen], parts_dir)
                for p in (mas, das):
                    planned.setdefault(p.path, p)
                slots.append((family, chosen, extra, i, seed, mas.path, das.path, das_ref.path))
    order = list(planned)
    done = cached_map(runner or JobRunner(), run_part, None, [planned[p] for p in order], describe, Resources(cpus=1),
                      show_progress)
    result = dict(zip(order, done))
    rows, das_references = [], {}
    for family, chosen, extra, i, seed, mas, das, das_ref in slots:
        das_references[(i, seed)] = result[das_ref]
        rows.append(_row(family, chosen, extra, seed, references[i], folders[family, i], result[mas], result[das],
                         result[das_ref]["iia"]["0->0"]))
        log(", ".join(f"{key} {rows[-1][key]:.3f}" for key in BARS)
            + f"  [{_label(rows[-1])}, {rows[-1]['pair']}, seed {seed}, {rows[-1]['seconds']:.0f} s]")
    reference_pairs = [references[i].name for i, _ in das_references]
    results = {
        "rows": rows, "bars": bars(rows),
        "das_reference": bootstrap_interval([r["iia"]["0->0"] for r in das_references.values()],
                                            groups=reference_pairs).as_dict(),
        "variables": {f: cfg.variable(f).model_dump() for f in dict.fromkeys([REFERENCE_TASK, *cfg.families])},
        "supplementary": {f: v.model_dump() for f, v in cfg.supplementary.items()},
        "runs": {path.stem: value for path, value in result.items()},
        "seconds": round(time.perf_counter() - start, 1), "config": cfg.model_dump(mode="json"),
        "protocol": cfg.protocol_table(),
    }
    files = OUTPUTS["3b"]
    with staged_folder(out, files.marker, cfg) as folder:
        write_json(folder / files.results, results)
        write_csv(folder / files.csv, rows, COLUMNS)
        _plot(results, folder / files.png)
    return results


def _row(family: str, chosen: Variable, supplementary: bool, seed: int, reference: Path, folder: Path, mas: dict,
         das: dict, das_reference: float) -> dict:
    iia = mas["iia"]
    return {
        "family": family, "variable": str(chosen), "supplementary": supplementary,
        "pair": f"{reference.name}|{folder.name}", "seed": seed, "reference_model": reference.name,
        "family_model": folder.name, "family_accuracy": read_json(folder / "config.json")["heldout_accuracy"],
        "ref->ref": iia["0->0"], "ref->family": iia["0->1"], "family->ref": iia["1->0"],
        "family->family": iia["1->1"], "das_family": das["iia"]["0->0"], "das_reference": das_reference,
        "das_minus_transfer": das["iia"]["0->0"] - iia["0->1"],
        "mas_steps": mas["steps"], "mas_stop_reason": mas.get("stop_reason"),
        "seconds": round(mas["seconds"] + das["seconds"], 1),
    }


def _label(row: dict) -> str:
    return f"{row['family']} ({row['variable']}{', supplementary' if row['supplementary'] else ''})"


def bars(rows: list[dict]) -> list[dict]:
    """Per bar group (family and variable): accuracy and every bar's mean over runs with its 95 % bootstrap
    interval (model pairs resampled, then seeds), the paired DAS − transfer gap, and runs at the step ceiling."""
    out = []
    for family, variable in dict.fromkeys((r["family"], r["variable"]) for r in rows):
        mine = [r for r in rows if (r["family"], r["variable"]) == (family, variable)]
        groups = [r["pair"] for r in mine]
        out.append({"family": family, "variable": variable, "supplementary": mine[0]["supplementary"],
                    "family_accuracy": sum(r["family_accuracy"] for r in mine) / len(mine),
                    **{bar: bootstrap_interval([r[bar] for r in mine], groups=groups).as_dict() for bar in BARS},
                    "das_minus_transfer": bootstrap_interval([r["das_minus_transfer"] for r in mine],
                                                             groups=groups).as_dict(),
                    "at_ceiling": sum(r["mas_stop_reason"] == "ceiling" for r in mine)})
    return out


def _plot(results: dict, path: Path) -> None:
    labels = {"ref->ref": "MO → MO", "ref->family": "MO → family", "family->ref": "family → MO",
              "family->family": "family → family", "das_family": "DAS (family)"}
    groups = results["bars"]
    width = 0.8 / len(BARS)
    fig, ax = plt.subplots(figsize=(1.9 * len(groups) + 2.5, 4))
    for i, bar in enumerate(BARS):
        xs = [j + (i - (len(BARS) - 1) / 2) * width for j in range(len(groups))]
        points = [g[bar] for g in groups]
        drawn = ax.bar(xs, [p["mean"] for p in points], width, yerr=interval_yerr(points), capsize=2, label=labels[bar])
        for patch, group in zip(drawn, groups):
            if group["supplementary"]:
                patch.set_hatch("//")
                patch.set_alpha(0.6)
    line = results["das_reference"]
    ax.axhspan(line["low"], line["high"], color="black", alpha=0.12, linewidth=0)
    ax.axhline(line["mean"], color="black", linestyle="--", linewidth=1, label="DAS (Multi-Object)")
    ticks = [f"{g['family'].replace('_', '-')} ({g['variable'].rpartition('.')[2]})"
             f"{' supplementary' if g['supplementary'] else ''}\n(held-out acc {g['family_accuracy']:.2f})"
             for g in groups]
    ax.set_xticks(range(len(groups)), ticks, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out IIA (trial accuracy)")
    runs = groups[0]["ref->family"]["n"] if groups else 0
    ax.set_title(f"Transfer of the Multi-Object GRUs' (MO) state ({results['config']['protocol']} protocol)\n"
                 f"mean over {runs} runs (model pairs × alignment seeds), 95 % bootstrap interval; hatched: "
                 "supplementary", fontsize=9)
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    save_figure(fig, path)
