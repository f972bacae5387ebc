"""Figure 3a: aligning with a model that can be recorded but not intervened on.

CLMAS, latent stitching and behavioural stitching, each scored behaviourally in the Access
direction (inaccessible -> accessible) and the No Access direction (accessible -> inaccessible),
with MAS trained on full access as the dashed upper bound. The stitches are the reference's
orthogonal maps without bias; the affine stitches with bias are drawn beside them as labelled
extras. Every bar is the mean over runs (model pairs × alignment seeds) with a 95 % bootstrap
interval that resamples model pairs, then runs within each.

One rule chooses every method's settings and every training's kept step, the paper's: the best
No Access validation IIA. CLMAS's (ε, k) and MAS's k are chosen on validation pairs; when ε lands
on an edge of its grid the grid grows past that edge (up to `max_extensions` times) and the new ε
is trained. A truly inaccessible model offers no No Access validation, so CLMAS with (ε, k) chosen
on the Access direction is drawn beside it, labelled. Test pairs are never seen by either choice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from mas.align.methods import MethodName
from mas.align.trainer import check_cl_weight
from mas.errors import MasError
from mas.evaluate import bootstrap_interval
from mas.experiments.outputs import OUTPUTS
from mas.experiments.sweep import SweepFigure, SweepSpec, check_inaccessible, figure_rows, write_figure
from mas.io import write_csv
from mas.plots import interval_yerr, plt, save_figure
from mas.runner import JobRunner

SIDES = ("access", "no_access")
LABELS = {
    "clmas": "CLMAS", "clmas_access": "CLMAS, ε and k chosen on Access (extra)", "latent_stitch": "Latent stitch",
    "behavioural_stitch": "Behavioural stitch", "affine_latent_stitch": "Affine latent stitch with bias (extra)",
    "affine_behavioural_stitch": "Affine behavioural stitch with bias (extra)",
}
Side = Literal["access", "no_access"]


class Figure3a(SweepFigure):
    """Settings of the trainings; see the docs for the wall time of the defaults."""

    OWN: ClassVar[dict[str, dict]] = {
        "paper": {"ks": [64, 128], "epsilon_grid": [1.0, 3.0, 10.0, 30.0], "cl_target": "source_sequence",
                  "stitches": ["latent_stitch", "behavioural_stitch", "affine_latent_stitch", "affine_behavioural_stitch"]},
        "quick": {"ks": [32], "epsilon_grid": [0.1, 1.0, 10.0], "cl_target": "matched", "steps": 250,
                  "eval_every": 50, "patience": None, "whole_state": False,
                  "stitches": ["affine_latent_stitch", "affine_behavioural_stitch"]},
    }
    OWN_REFERENCE: ClassVar[dict[str, tuple[str, str]]] = {
        "ks": ("full width 128 at the paper's time; 64 and 128 later", ""),
        "epsilon_grid": ("ε 7 (default at the paper's time); 0.85 to 13 in configs and sweeps", ""),
        "cl_target": ("the inaccessible model's state on the source's own sequence", ""),
        "stitches": ("orthogonal latent and behavioural stitches, no bias", "affine stitches with bias are extras"),
        "selection": ("best No Access validation IIA, for every method and step", ""),
    }

    inaccessible: int = Field(1, description="index (0 or 1) of the model behaviour is never trained into")
    ks: list[int] = Field(min_length=1, description="subspace sizes CLMAS and the MAS bound choose among")
    rank: int = Field(128, ge=1, description="rank of the stitches (the width: full rank)")
    cl_weight: float | None = Field(None, description="CLMAS's ε; None chooses it from epsilon_grid on validation")
    epsilon_grid: list[float] = Field(min_length=1, description="ε tried when cl_weight is None")
    max_extensions: int = Field(3, ge=0, description="times the ε grid may grow past an edge the choice landed on")
    cl_target: Literal["matched", "source_sequence"]
    stitches: list[MethodName] = Field(description="the stitch baselines trained")
    latent_sequences: int = Field(2000, ge=1)

    @field_validator("cl_weight")
    @classmethod
    def _weight(cls, value: float | None) -> float | None:
        return None if value is None else check_cl_weight(value)

    @field_validator("epsilon_grid")
    @classmethod
    def _grid(cls, values: list[float]) -> list[float]:
        if len(set(values)) != len(values):
            raise MasError(f"the ε grid repeats a value: {values}")
        return sorted(check_cl_weight(v) for v in values)

    @field_validator("inaccessible")
    @classmethod
    def _one_of_two(cls, value: int) -> int:
        return check_inaccessible(value)

    @property
    def selection(self) -> str:
        return "best No Access validation IIA (ε, k and step)"

    def epsilons(self) -> list[float]:
        """The ε CLMAS is trained with first: the given one, or the whole grid to choose from."""
        return self.epsilon_grid if self.cl_weight is None else [self.cl_weight]

    def specs(self, models: list[Path], epsilons: list[float]) -> list[SweepSpec]:
        """One CLMAS sweep per ε, then MAS and the stitches (the latent stitches, CL loss alone, at weight 1)."""

        def sweep(methods: list[str], cl_weight: float) -> SweepSpec:
            return SweepSpec(models=models, methods=methods, ks=self.ks, ranks=[self.rank], inaccessible=self.inaccessible,
                             cl_weight=cl_weight, latent_sequences=self.latent_sequences, cl_target=self.cl_target,
                             **self.budget())

        return [*(sweep(["clmas"], e) for e in epsilons), sweep(["mas", *self.stitches], 1.0)]


def direction(side: Side, inaccessible: int) -> str:
    """Access is inaccessible -> accessible; No Access is accessible -> inaccessible."""
    acc = 1 - inaccessible
    return f"{inaccessible}->{acc}" if side == "access" else f"{acc}->{inaccessible}"


def choose(rows: list[dict], method: str, side: Side, inaccessible: int) -> dict:
    """The setting (ε, k) of `method` with the best mean validation IIA in `side`'s direction over runs
    (the first in grid order on a tie), and every candidate's mean. Never reads test scores."""
    key = direction(side, inaccessible)
    candidates: dict[tuple[float | None, int], list[float]] = {}
    for r in rows:
        if r["method"] == method:
            candidates.setdefault((r.get("cl_weight"), r["size"]), []).append(r["validation_iia"][key])
    if not candidates:
        raise MasError(f"no {method} rows to choose a setting from")
    grid = [{"epsilon": e, "k": k, **bootstrap_interval(v).as_dict()} for (e, k), v in sorted(candidates.items(),
                                                                                                key=lambda c: (c[0][0] or 0, c[0][1]))]
    best = max(grid, key=lambda g: g["mean"])
    return {"method": method, "scored_on": f"validation pairs, {side.replace('_', ' ')} direction {key}",
            "grid": grid, "epsilon": best["epsilon"], "k": best["k"]}


def extend_grid(grid: list[float], chosen: float, factor: float = 3.0) -> float | None:
    """The ε to try next when `chosen` sits on an edge of `grid` (× or ÷ `factor` past it), else None."""
    if len(grid) > 1 and chosen == min(grid):
        return chosen / factor
    if chosen == max(grid):
        return chosen * factor
    return None


def chosen_rows(rows: list[dict], method: str, choice: dict | None) -> list[dict]:
    """`method`'s rows at the chosen setting (every row when there was nothing to choose)."""
    mine = [r for r in rows if r["method"] == method]
    if choice is None:
        return mine
    return [r for r in mine if r["size"] == choice["k"] and r.get("cl_weight") == choice["epsilon"]]


def bars(rows: list[dict], choices: dict[str, dict]) -> list[dict]:
    """Mean Access and No Access IIA of each method (MAS included) at its chosen setting, with a 95 %
    bootstrap interval (model pairs, then runs), and how many of its runs stopped at the step ceiling."""
    out = []
    for name in ["mas", *LABELS]:
        method = "clmas" if name == "clmas_access" else name
        mine = chosen_rows(rows, method, choices.get(name))
        for side in SIDES:
            if mine:
                interval = bootstrap_interval([r[side] for r in mine], groups=[r["pair"] for r in mine]).as_dict()
                out.append({"method": name, "side": side, **interval, "pairs": [r["pair"] for r in mine],
                            "at_ceiling": sum(r.get("stop_reason") == "ceiling" for r in mine)})
    return out


def plot(bars_: list[dict], choices: dict[str, dict], path: Path) -> None:
    shown = [m for m in LABELS if any(b["method"] == m for b in bars_)]
    fig, ax = plt.subplots(figsize=(7.0, 3.9))
    width = 0.85 / len(shown)
    for i, method in enumerate(shown):
        mine = {b["side"]: b for b in bars_ if b["method"] == method}
        x = [j + (i - (len(shown) - 1) / 2) * width for j in range(len(SIDES))]
        points = [mine[s] for s in SIDES]
        label = LABELS[method]
        if method in choices:
            label += f" (ε = {choices[method]['epsilon']:g}, k = {choices[method]['k']})"
        extra = "(extra)" in LABELS[method]
        ax.bar(x, [p["mean"] for p in points], width, yerr=interval_yerr(points), capsize=2, label=label,
               hatch="//" if extra else None, alpha=0.6 if extra else 1.0)
    upper = {b["side"]: b for b in bars_ if b["method"] == "mas"}
    for j, side in enumerate(SIDES):
        ax.hlines(upper[side]["mean"], j - 0.45, j + 0.45, colors="black", linestyles="dashed",
                  label=f"MAS, full access (k = {choices['mas']['k']})" if j == 0 else None)
        ax.fill_between([j - 0.45, j + 0.45], upper[side]["low"], upper[side]["high"], color="black", alpha=0.12,
                        linewidth=0)
    ax.set_xticks(range(len(SIDES)), ["Access", "No Access"])
    ax.set_ylabel("held-out IIA (trial accuracy)")
    ax.set_ylim(0, 1.35)
    ax.set_title("Multi-Object GRUs, one model inaccessible")
    ax.legend(frameon=False, fontsize=6.5, loc="upper center", ncol=2)
    save_figure(fig, path)


def run_figure_3a(
    config: Figure3a, out: Path, table: Path, show_progress: bool = True, runner: JobRunner | None = None
) -> dict:
    """Train or reuse the GRUs, run (or resume) the trainings, choose ε and k (growing the ε grid past an
    edge), then write the PNG and its tables.

    Besides figure_3a.png/.csv/.json the run folder holds figure_3a_choices.csv: every candidate
    setting's validation IIA and which was chosen, by both rules.
    """
    start = time.perf_counter()
    epsilons, extensions = config.epsilons(), 0
    while True:
        rows = figure_rows(config, lambda models: config.specs(models, epsilons), table, show_progress, runner)
        chosen = choose(rows, "clmas", "no_access", config.inaccessible)
        grown = extend_grid(epsilons, chosen["epsilon"]) if config.cl_weight is None else None
        if grown is None or extensions == config.max_extensions:
            break
        epsilons, extensions = sorted([*epsilons, grown]), extensions + 1

    def draw(rows: list[dict], png: Path) -> dict:
        choices = {"clmas": chosen, "clmas_access": choose(rows, "clmas", "access", config.inaccessible),
                   "mas": choose(rows, "mas", "no_access", config.inaccessible)}
        summary = {"choices": choices, "epsilon_grid": epsilons, "grid_extensions": extensions,
                   "epsilon_on_edge": extend_grid(epsilons, chosen["epsilon"]) is not None and config.cl_weight is None,
                   "bars": bars(rows, choices)}
        plot(summary["bars"], choices, png)
        table_rows = [{"rule": name, **g, "chosen": (g["epsilon"], g["k"]) == (c["epsilon"], c["k"])}
                      for name, c in choices.items() for g in c["grid"]]
        write_csv(png.with_name("figure_3a_choices.csv"), table_rows, ["rule", "epsilon", "k", "mean", "low", "high", "n", "chosen"])
        return summary

    columns = ["method", "size", "pair", "seed", "cl_weight", "access", "no_access", "steps", "stop_reason",
               "selected_step", "latent_pairs", "latent_pairs_dropped", "seconds"]
    return write_figure(config, rows, out, table, OUTPUTS["3a"], draw, columns, time.perf_counter() - start)
