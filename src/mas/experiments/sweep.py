"""Sweeps: a list of independent alignment jobs between two models, each one result row.

Every job (a method, a subspace size k or stitch rank r, a seed) trains one site map and scores it
behaviourally. Finished rows are appended to one JSONL table as they come, so an interrupted sweep
resumes where it stopped: rows already in the table for the same settings are skipped. The jobs
are plain data and run on a `mas.runner` job runner (in this process, or on Ray workers); rows are
written by this process alone, as jobs finish, and returned in job order whatever ran them.

The methods (DAS, MAS, the stitches, CLMAS), what each trains and how it is scored, are
`mas.align.methods`; a sweep runs them over a grid.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Literal, Sequence

import torch
from pydantic import BaseModel, Field, field_validator, model_validator

from mas.align import AlignConfig, AlignmentTrainer, Interchange, LatentPairs, attach_latents, record_latents
from mas.align.counterfactual_latents import counterfactual_values, source_sequence_latents, trimmed
from mas.align.methods import METHODS, MethodName
from mas.align.trainer import FitResult, check_cl_weight
from mas.errors import MasError
from mas.evaluate import evaluate_iia, scores_json
from mas.experiments.alignment import load_task_models, shared_task
from mas.experiments.outputs import FigureOutputs
from mas.io import atomic_write_bytes, write_csv, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.progress import JobLog
from mas.run_folder import (
    check_models_dir,
    check_table_owner,
    check_writable,
    claim_folder,
    remove_stale_temporaries,
    staged_folder,
)
from mas.runner import JobRunner, Resources
from mas.tasks import CausalModel
from mas.tasks.pairs import PairSet, build_pairs


class SweepJob(BaseModel):
    method: MethodName
    size: int = Field(ge=1, description="k for rotation methods, the rank r for stitches")
    seed: int


class SweepSpec(BaseModel):
    """Two models, the grid (methods × sizes × seeds) and the settings every job shares."""

    models: list[Path] = Field(min_length=2, max_length=2)
    site: str = Field("hidden", description="the site aligned in both models")
    variables: list[str] = Field(default_factory=lambda: ["count"])
    mode: Literal["single", "stepwise"] = "single"
    methods: list[MethodName] = Field(default_factory=lambda: ["das", "mas", "stitch"], min_length=1)
    ks: list[int] = Field(default_factory=lambda: [1, 4, 16, 64], description="subspace sizes k of the rotation methods")
    ranks: list[int] = Field(default_factory=lambda: [1, 4, 16, 128],
                             description="ranks r of the stitches (the width means full rank)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1,
                             description="alignment seeds (initialisation, batches, pairs)")
    steps: int = Field(300, ge=1, description="training steps per job (fewer when validation is solved)")
    lr: float = Field(AlignConfig.model_fields["lr"].default, gt=0)
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    batch_size: int = Field(128, ge=1, description="pairs per direction per step")
    eval_every: int = Field(50, ge=1)
    patience: int | None = Field(None, ge=1, description="evaluations without improvement before a job stops (see AlignConfig)")
    stopping: Literal["validation", "reference"] = Field("validation", description="see AlignConfig.stopping")
    train_pairs: int = Field(4096, ge=1)
    validation_pairs: int = Field(256, ge=1)
    test_pairs: int = Field(1000, ge=1)
    inaccessible: int = Field(1, description="index of the model behaviour is never trained into")
    cl_weight: float = Field(1.0, description="weight ε of the counterfactual-latent loss")
    whole_state: bool = Field(
        True, description="keep only pairs whose counterfactual state is the source's whole causal state, "
        "so a stitch, which overwrites the whole target state, can be exact; e.g. Multi-Object pairs in one phase",
    )
    latent_sequences: int = Field(2000, ge=1)
    cl_target: Literal["matched", "source_sequence"] = Field(
        "matched", description="CL latents: recorded states matched on the counterfactual values, or the inaccessible "
        "model's own state on the source's sequence (one task, whole state swapped; see counterfactual_latents)",
    )

    @field_validator("inaccessible")
    @classmethod
    def _one_of_two(cls, value: int) -> int:
        return check_inaccessible(value)

    @field_validator("cl_weight")
    @classmethod
    def _non_negative(cls, value: float) -> float:
        return check_cl_weight(value)

    @field_validator("ks", "ranks")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if any(v < 1 for v in values):
            raise MasError(f"subspace sizes and ranks must be ≥ 1, got {values}")
        return values

    def jobs(self) -> list[SweepJob]:
        """Seed by seed, size by size, every method: a cut-short sweep still compares methods."""
        jobs = []
        for seed in self.seeds:
            for i in range(max(len(self.ks), len(self.ranks))):
                for m in self.methods:
                    grid = self.ranks if METHODS[m].sized_by == "rank" else self.ks
                    if i < len(grid):
                        jobs.append(SweepJob(method=m, size=grid[i], seed=seed))
        return jobs

    def fingerprint(self) -> str:
        """Identifies the shared settings: rows of another fingerprint are never reused.

        Unset optional settings (None) are left out, so adding one keeps the tables written before.
        """
        shared = self.model_dump(mode="json", exclude={"methods", "ks", "ranks", "seeds"}, exclude_none=True)
        return hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:12]


def check_inaccessible(value: int) -> int:
    """Of two models, the inaccessible one is 0 or 1."""
    if value not in (0, 1):
        raise MasError(f"the inaccessible model must be 0 or 1 (two models), not {value}")
    return value


def row_key(fingerprint: str, job: SweepJob) -> str:
    return f"{fingerprint}:{job.method}:{job.size}:{job.seed}"


def read_table(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    if not path.is_file():
        raise MasError(f"sweep table {path} is not a file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise MasError(f"sweep table {path} is not a text (JSONL) file") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise MasError(f"sweep table {path} is corrupt at line {number}") from None
            if not isinstance(rows[-1], dict):
                raise MasError(f"sweep table {path} line {number} is not a row (a JSON object)")
    return rows


def check_table(path: Path, flag: str = "--table") -> Path:
    """Refuse, before any work, a table that cannot be read as a sweep table or cannot be written."""
    check_writable(path, flag)
    read_table(path)
    check_table_owner(path, flag)
    return Path(path)


def claim_sweep_figure(
    out: Path, table: Path | None, outputs: FigureOutputs, figure: SweepFigure, overwrite: bool
) -> Path:
    """Check a sweep figure's models folder, run folder and table (default OUT.rows.jsonl beside OUT); returns the table."""
    check_models_dir(figure.models_dir)
    claim_folder(out, outputs.marker, figure, overwrite=overwrite)
    return check_table(table or Path(out).with_name(f"{Path(out).name}.rows.jsonl"))


def append_row(path: Path, row: dict) -> None:
    """Rewrite the table with one more row, atomically: a crash leaves the old table or the new one."""
    old = Path(path).read_bytes() if Path(path).exists() else b""
    atomic_write_bytes(Path(path), old + (json.dumps(row, sort_keys=True) + "\n").encode())


class SweepContext:
    """What every job of a sweep shares: the models, and per seed the pairs and recorded latents."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.adapters, configs = load_task_models(spec.models)
        self.task: CausalModel = shared_task(configs)
        self.mapping = {v: v for v in spec.variables}
        self._pairs: dict[int, tuple[PairSet, PairSet, PairSet]] = {}
        self._latents: dict[int, LatentPairs] = {}
        self.states: dict = {}  # source and target states per pair set, shared by every job's trainer

    def lend(self, spec: SweepSpec) -> SweepContext:
        """A context for `spec` that shares this one's models, pairs, states and latents when `spec` differs
        only in its jobs and ε (which jobs read as they run); otherwise a fresh one."""
        own = {"methods", "ks", "ranks", "seeds", "cl_weight"}
        if spec.model_dump(exclude=own) != self.spec.model_dump(exclude=own):
            return SweepContext(spec)
        other = copy.copy(self)
        other.spec = spec
        return other

    def read_states(self, seed: int) -> None:
        """Fill the state cache for every model and pair set of `seed`, e.g. before jobs go to workers."""
        trainer = AlignmentTrainer(self.adapters, [self.spec.site] * 2, AlignConfig(k=1), state_cache=self.states)
        for pairs in self.pairs(seed):
            for model in range(len(self.adapters)):
                trainer.source_states(model, pairs)
                trainer.target_states(model, pairs)

    def _pair_names(self) -> dict[int, tuple[int, int]]:
        return {id(p): (seed, split) for seed, sets in self._pairs.items() for split, p in enumerate(sets)}

    def __getstate__(self) -> dict:
        """Cached states travel keyed by (seed, split): the cache's own keys are object ids, valid only here."""
        names = self._pair_names()
        states = {(kind, model, names[key]): value for (kind, model, key), value in self.states.items() if key in names}
        return {**self.__dict__, "states": states}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        ids = {name: key for key, name in self._pair_names().items()}
        self.states = {(kind, model, ids[name]): value for (kind, model, name), value in state["states"].items()}

    def widths(self) -> list[int]:
        return [a.width(self.spec.site) for a in self.adapters]

    def pairs(self, seed: int) -> tuple[PairSet, PairSet, PairSet]:
        if seed not in self._pairs:
            sizes = (self.spec.train_pairs, self.spec.validation_pairs, self.spec.test_pairs)
            self._pairs[seed] = tuple(self._build(n, 3 * seed + i) for i, n in enumerate(sizes))  # type: ignore[assignment]
        return self._pairs[seed]

    def _build(self, n: int, seed: int) -> PairSet:
        if not self.spec.whole_state:
            return build_pairs(self.task, self.task, n, self.mapping, self.spec.mode, seed=seed)
        sampled = build_pairs(self.task, self.task, 3 * n, self.mapping, self.spec.mode, seed=seed)
        pairs = whole_state_pairs(sampled, self.task, self.mapping)
        if len(pairs) < n:
            raise MasError(f"only {len(pairs)} of {3 * n} pairs carry the whole causal state; turn whole_state off")
        return pairs.subset(slice(0, n))

    def latents(self, seed: int) -> LatentPairs:
        """Training pairs with recorded latents of the inaccessible model at their counterfactual values."""
        if seed not in self._latents:
            adapter, site, train = self.adapters[self.spec.inaccessible], self.spec.site, self.pairs(seed)[0]
            if self.spec.cl_target == "source_sequence":
                self._latents[seed] = source_sequence_latents(adapter, site, train, self.task, self.task, self.mapping)
            else:
                bank = record_latents(adapter, site, self.task, self.spec.latent_sequences, seed)
                self._latents[seed] = attach_latents(train, bank, self.task, self.task, self.mapping, seed)
        return self._latents[seed]


def whole_state_pairs(pairs: PairSet, task: CausalModel, mapping: dict[str, str]) -> PairSet:
    """The pairs whose counterfactual variables, at every intervened slot, are all the source's."""
    keep = []
    for n, slots in enumerate(counterfactual_values(pairs, task, task, mapping)):
        source = task.trace(trimmed(pairs.source_tokens[n]))
        if all(v is None or v == source[sp] for v, sp in zip(slots, pairs.source_positions[n].tolist())):
            keep.append(n)
    return pairs.subset(torch.tensor(keep, dtype=torch.long))


def summarise(iia: dict[str, float], inaccessible: int) -> dict[str, float]:
    """Headline numbers of a row: mean self and cross IIA, and the Access / No Access directions."""
    out: dict[str, float] = {}
    for name, keys in (("self", ["0->0", "1->1"]), ("cross", ["0->1", "1->0"])):
        if all(k in iia for k in keys):
            out[name] = sum(iia[k] for k in keys) / len(keys)
    acc = 1 - inaccessible
    access, no_access = f"{inaccessible}->{acc}", f"{acc}->{inaccessible}"
    if access in iia and no_access in iia:
        out["access"], out["no_access"] = iia[access], iia[no_access]
    return out


def run_job(context: SweepContext, job: SweepJob) -> dict:
    """Train one site map and score it on held-out pairs, free-running."""
    spec = context.spec
    start = time.perf_counter()
    sites = [spec.site, spec.site]
    widths = context.widths()
    job_plan = METHODS[job.method].plan(job.size, widths, spec.inaccessible)
    routes = job_plan.routes
    config = AlignConfig(
        k=job.size if isinstance(job_plan.site_map, Interchange) else 1, steps=spec.steps, lr=spec.lr,
        batch_size=spec.batch_size, seed=job.seed, eval_every=spec.eval_every, cl_weight=spec.cl_weight,
        patience=spec.patience, lr_schedule=spec.lr_schedule, stopping=spec.stopping,
    )
    trainer = AlignmentTrainer(context.adapters, sites, config, job_plan.site_map, state_cache=context.states)
    train, validation, test = context.pairs(job.seed)
    latents = {d: context.latents(job.seed) for d in routes.latent}
    fit = trainer.fit(
        {d: train for d in routes.behaviour}, {d: validation for d in routes.scored},
        show_progress=False, latents=latents, select=routes.select,
    )
    scores = evaluate_iia(trainer, fit.rotations, {d: test for d in routes.scored})
    iia = scores_json(scores)
    row = {
        "method": job.method, "size": job.size, "seed": job.seed, "iia": iia, "token_iia": scores_json(scores, "token"),
        **summarise(iia, spec.inaccessible), "steps": fit.steps, "selected_step": fit.selected_step,
        "stop_reason": fit.stop_reason, "seconds": round(time.perf_counter() - start, 2),
        "models": [a.name for a in context.adapters], "pair": pair_name(context.adapters),
        "validation_iia": kept_validation(fit),
    }
    if latents:
        row["latent_pairs"], row["latent_pairs_dropped"] = len(context.latents(job.seed)), context.latents(job.seed).dropped
        row["cl_weight"] = spec.cl_weight
    return row


def pair_name(adapters: Sequence) -> str:
    """The two models of a row, e.g. "multi_object-gru-s0|multi_object-gru-s1": intervals resample these."""
    return "|".join(a.name for a in adapters)


def kept_validation(fit: FitResult) -> dict[str, float]:
    """Validation trial accuracy per direction of the parameters kept, for choices that must not see test pairs."""
    kept = fit.selected_step or fit.steps
    return next(r for r in fit.history if r["step"] == kept).get("val_trial", {})


def headline(row: dict) -> str:
    """The summary numbers of a row, e.g. "self 0.950, cross 0.910"."""
    return ", ".join(f"{k} {row[k]:.3f}" for k in ("self", "cross", "access", "no_access") if k in row)


def run_sweep(
    spec: SweepSpec, table: Path, show_progress: bool = True, runner: JobRunner | None = None,
    context: SweepContext | None = None,
) -> list[dict]:
    """Run every job of `spec` not yet in `table`, appending a row per finished job; all rows of `spec`.

    Jobs run on `runner` (in this process by default), each on one CPU. `context`, from a sweep over
    the same models and pairs, lends its pairs, states and latents (see `SweepContext.lend`).
    """
    fingerprint = spec.fingerprint()
    remove_stale_temporaries(Path(table).parent, Path(table).name)
    jobs = spec.jobs()
    done = {r.get("key") for r in read_table(table)}
    todo = [j for j in jobs if row_key(fingerprint, j) not in done]
    context = SweepContext(spec) if context is None else context.lend(spec)
    widths = context.widths()
    plans = [METHODS[job.method].plan(job.size, widths, spec.inaccessible) for job in todo]
    for job_plan in plans:  # refuse the whole grid, then pairs that find no latents, before any row is written
        job_plan.site_map.check(widths)
    for job, job_plan in zip(todo, plans):  # built once here, so jobs on workers share them
        context.read_states(job.seed)
        if job_plan.routes.latent:
            context.latents(job.seed)
    log = JobLog(len(jobs), len(jobs) - len(todo), show_progress)
    for index, row in (runner or JobRunner()).map(run_job, context, todo, Resources(cpus=1)):
        job = todo[index]
        append_row(table, {"key": row_key(fingerprint, job), "spec": fingerprint, **row})
        log.finished(f"{job.method} size {job.size} seed {job.seed}", row["seconds"], headline(row))
    rows = {r.get("key"): r for r in read_table(table)}
    return [rows[row_key(fingerprint, j)] for j in jobs]


Protocol = Literal["paper", "quick"]
PAPER_CEILING = 3000  # steps; the reference allows 20 000 (see REFERENCE)

# Every setting a figure's protocol fills when it is not given; figures add their own (`SweepFigure.OWN`).
SHARED: dict[str, dict] = {
    "paper": {
        "model_seeds": [0, 1, 2], "seeds": [0], "lr": 1e-3, "lr_schedule": "constant", "batch_size": 128,
        "steps": PAPER_CEILING, "eval_every": 100, "patience": 10, "stopping": "reference", "train_pairs": 10_000,
        "validation_pairs": 1000, "test_pairs": 1000, "variables": ["count", "phase"], "whole_state": False,
    },
    "quick": {
        "model_seeds": [0, 1], "seeds": [0, 1, 2], "lr": 5e-3, "lr_schedule": "cosine", "batch_size": 64,
        "steps": 600, "eval_every": 25, "patience": 4, "stopping": "validation", "train_pairs": 4096,
        "validation_pairs": 256, "test_pairs": 1000, "variables": ["count"], "whole_state": True,
    },
}

def fill_protocol(data: Any, own: dict[str, dict], shared: Iterable[str] | None = None) -> Any:
    """A figure's settings with every one not given (None) taken from its protocol's presets: the
    shared ones (all, or those named in `shared`), then the figure's `own`; the given ones win."""
    if not isinstance(data, dict):
        return data
    protocol = data.get("protocol") or "paper"
    if protocol not in SHARED:
        raise MasError(f"unknown protocol {protocol!r}; use one of {', '.join(SHARED)}")
    presets = SHARED[protocol] if shared is None else {k: SHARED[protocol][k] for k in shared}
    given = {k: v for k, v in data.items() if v is not None}
    return {**presets, **own[protocol], **given, "protocol": protocol}


# The reference code's value of each shared setting and, where the paper protocol differs, why.
REFERENCE: dict[str, tuple[str, str]] = {
    "model_seeds": ("5 GRUs, all pairs", "3 GRUs (3 pairs) fit the 2-core budget; intervals resample the pairs"),
    "seeds": ("one per run", ""),
    "lr": ("1e-3", ""),
    "lr_schedule": ("constant", ""),
    "batch_size": ("128 pairs per direction", ""),
    "steps": ("≤ 20 000", f"a {PAPER_CEILING}-step ceiling on 2 CPU cores; runs that reach it are marked"),
    "eval_every": ("100", ""),
    "patience": ("10 evaluations", ""),
    "stopping": ("train and validation trial IIA ≥ 0.995, or validation loss not better by 0.001 for 10 "
                 "evaluations", "the reference also gives up when validation IIA < 0.1 after 1500 steps; we do not"),
    "train_pairs": ("10 000", ""),
    "validation_pairs": ("1000", ""),
    "test_pairs": ("1000 (validation)", "held-out test pairs apart from the validation pairs that choose the step"),
    "variables": ("count and phase (the whole state, cross-phase pairs included)", ""),
    "whole_state": ("no filter", ""),
}


class SweepFigure(BaseModel):
    """What every figure drawn from GRU-vs-GRU sweeps shares: the models, their pairs and the training budget.

    `protocol` fills every setting not given. "paper" is the reference code's protocol (whole-state
    swaps, constant lr, trained to convergence, several model pairs); "quick" is a short schedule
    for a smoke run on a laptop. Each setting's preset lives once, in `SHARED` and the figure's `OWN`.
    """

    OWN: ClassVar[dict[str, dict]] = {"paper": {}, "quick": {}}
    OWN_REFERENCE: ClassVar[dict[str, tuple[str, str]]] = {}

    protocol: Protocol = "paper"
    models_dir: Path = Path("runs/models")
    model_seeds: list[int] = Field(min_length=2, description="GRU seeds; every pair of them is aligned")
    seeds: list[int] = Field(min_length=1, description="alignment seeds per model pair")
    lr: float = Field(gt=0, description="learning rate")
    lr_schedule: Literal["cosine", "constant"]
    batch_size: int = Field(ge=1, description="pairs per direction per step")
    steps: int = Field(ge=1, description="step ceiling of every job")
    eval_every: int = Field(ge=1, description="steps between validation checks")
    patience: int | None = Field(ge=1, description="validation checks without improvement before a job stops")
    stopping: Literal["validation", "reference"]
    train_pairs: int = Field(ge=1)
    validation_pairs: int = Field(ge=1)
    test_pairs: int = Field(ge=1)
    variables: list[str] = Field(min_length=1, description="Multi-Object variables the source's values replace")
    whole_state: bool = Field(description="only pairs whose counterfactual state is all the source's (see SweepSpec)")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_protocol(cls, data: Any) -> Any:
        return fill_protocol(data, cls.OWN)

    @field_validator("model_seeds")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise MasError(f"model seeds repeat: {values}")
        return values

    def model_pairs(self) -> list[tuple[int, int]]:
        """Every pair of model seeds, in order: (0, 1), (0, 2), (1, 2) for three."""
        return list(combinations(self.model_seeds, 2))

    def budget(self) -> dict:
        """The SweepSpec fields these settings fill."""
        fields = ("seeds", "lr", "lr_schedule", "batch_size", "steps", "eval_every", "patience", "stopping",
                  "train_pairs", "validation_pairs", "test_pairs", "variables", "whole_state")
        return {f: getattr(self, f) for f in fields}

    def protocol_table(self) -> list[dict]:
        """Each setting beside the reference code's value and, where they differ, why: for the report."""
        reference = {**REFERENCE, **self.OWN_REFERENCE}
        return [{"setting": name, "ours": getattr(self, name), "reference": ref, "why": why}
                for name, (ref, why) in reference.items()]


def figure_rows(
    figure: SweepFigure,
    spec: Callable[[list[Path]], SweepSpec | list[SweepSpec]],
    table: Path,
    show_progress: bool = True,
    runner: JobRunner | None = None,
) -> list[dict]:
    """Train or reuse every GRU, then run (or resume) the sweep(s) of every model pair; their rows.

    `spec` gives a pair's sweep, or several (e.g. one per setting a figure chooses among); they
    share the table, and the sweeps of one pair share its pairs, states and latents.
    """
    folders = {s: ensure_model(TrainConfig(task="multi_object", arch="gru", seed=s), figure.models_dir, show_progress)
               for s in figure.model_seeds}
    rows = []
    for a, b in figure.model_pairs():
        specs = spec([folders[a], folders[b]])
        specs = specs if isinstance(specs, list) else [specs]
        context = SweepContext(specs[0])
        rows += [row for one in specs for row in run_sweep(one, table, show_progress, runner, context)]
    return rows


def write_figure(
    figure: SweepFigure, rows: list[dict], out: Path, table: Path, outputs: FigureOutputs,
    draw: Callable[[list[dict], Path], dict], columns: Sequence[str], seconds: float,
) -> dict:
    """Write the figure's PNG, CSV and JSON into OUT; `draw(rows, png)` plots and returns the summary merged
    into the JSON.

    The CSV holds one row per sweep row, per-direction IIA flattened into `iia_<direction>` columns.
    """
    with staged_folder(out, outputs.marker, figure) as folder:
        summary = {**draw(rows, folder / outputs.png), "rows": rows, "config": figure.model_dump(mode="json"),
                   "protocol": figure.protocol_table(), "table": str(table), "seconds": round(seconds, 2)}
        flat = [{**r, **{f"iia_{k}": v for k, v in r.get("iia", {}).items()}} for r in rows]
        write_csv(folder / outputs.csv, flat, columns)
        write_json(folder / outputs.results, summary)
    return summary


def run_sweep_figure(
    figure: SweepFigure,
    spec: Callable[[list[Path]], SweepSpec | list[SweepSpec]],
    out: Path,
    table: Path,
    outputs: FigureOutputs,
    draw: Callable[[list[dict], Path], dict],
    columns: Sequence[str],
    show_progress: bool = True,
    runner: JobRunner | None = None,
) -> dict:
    """`figure_rows`, then `write_figure`."""
    start = time.perf_counter()
    rows = figure_rows(figure, spec, table, show_progress, runner)
    return write_figure(figure, rows, out, table, outputs, draw, columns, time.perf_counter() - start)


__all__ = [
    "SweepFigure", "figure_rows", "write_figure", "SweepJob", "SweepSpec", "headline", "read_table", "run_sweep", "run_sweep_figure", "summarise",
]
