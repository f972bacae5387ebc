"""Figure 3a: aligning with a model that can be recorded but not intervened on.

CLMAS, latent stitching and behavioural stitching, each scored behaviourally in the Access
direction (inaccessible -> accessible) and the No Access direction (accessible -> inaccessible),
with MAS trained on full access as the dashed upper bound. Every bar is the mean over alignment
seeds with a 95 % bootstrap interval.

CLMAS's weight ε is chosen from a grid on validation pairs of the Access direction alone: the
one direction whose IIA could be measured in practice, since its target is the accessible model.
Within each training the sweep keeps the parameters with the best No Access validation IIA, as
the paper does; the choice of ε then reads the Access validation IIA of those kept parameters.
Test pairs are never seen by either choice.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from mas.align.trainer import check_cl_weight
from mas.errors import MasError
from mas.evaluate import bootstrap_interval
from mas.experiments.sweep import SweepFigure, SweepSpec, run_sweep_figure
from mas.io import write_csv
from mas.plots import interval_yerr, plt, save_figure
from mas.runner import JobRunner

METHODS = {"clmas": "CLMAS", "latent_stitch": "Latent stitch", "behavioural_stitch": "Behavioural stitch"}
SIDES = ("access", "no_access")
BOUNDS = ["mas", "latent_stitch", "behavioural_stitch"]  # the methods ε does not weigh


class Figure3a(SweepFigure):
    """Settings of the trainings; see the README for the wall time of the defaults."""

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    inaccessible: int = 1
    k: int = Field(32, ge=1, description="subspace size of CLMAS and of the MAS upper bound")
    rank: int = Field(128, ge=1, description="rank of both stitches (the width: full rank)")
    cl_weight: float | None = Field(None, description="CLMAS's ε; None chooses it from epsilon_grid on validation")
    epsilon_grid: list[float] = Field(
        default_factory=lambda: [0.1, 1.0, 10.0], min_length=1,
        description="ε tried when cl_weight is None: decades around the paper's 1, one CLMAS training per seed each",
    )
    steps: int = Field(250, ge=1)
    whole_state: bool = Field(
        False, description="only pairs whose counterfactual state is all the source's (see SweepSpec); off, stitches "
        "must also guess the target's other variables, which CLMAS keeps from the target",
    )
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
        return [check_cl_weight(v) for v in values]

    def epsilons(self) -> list[float]:
        """The ε CLMAS is trained with: the given one, or the whole grid to choose from."""
        return self.epsilon_grid if self.cl_weight is None else [self.cl_weight]

    def specs(self, models: list[Path]) -> list[SweepSpec]:
        """One CLMAS sweep per ε, then MAS and both stitches (the latent stitch, CL loss alone, at weight 1)."""

        def sweep(methods: list[str], cl_weight: float) -> SweepSpec:
            return SweepSpec(models=models, methods=methods, ks=[self.k], ranks=[self.rank], steps=self.steps,
                             whole_state=self.whole_state, inaccessible=self.inaccessible, cl_weight=cl_weight,
                             latent_sequences=self.latent_sequences, **self.budget())

        return [*(sweep(["clmas"], e) for e in self.epsilons()), sweep(BOUNDS, 1.0)]


def choose_epsilon(rows: list[dict], inaccessible: int) -> dict:
    """Each ε's validation Access IIA over seeds and the ε with the best mean (the first, on a tie).

    Reads only the CLMAS rows' `validation_iia` in the Access direction (inaccessible -> accessible):
    never test scores, never No Access.
    """
    access = f"{inaccessible}->{1 - inaccessible}"
    per_weight: dict[float, dict[int, float]] = {}
    for r in rows:
        if r["method"] == "clmas":
            per_weight.setdefault(r["cl_weight"], {})[r["seed"]] = r["validation_iia"][access]
    if not per_weight:
        raise MasError("no CLMAS rows to choose ε from")
    grid = [{"epsilon": e, "seeds": sorted(values), **bootstrap_interval(list(values.values())).as_dict()}
            for e, values in per_weight.items()]
    chosen = max(grid, key=lambda g: g["mean"])["epsilon"]
    return {"scored_on": f"validation pairs, Access direction {access}", "grid": grid, "chosen": chosen}


def bars(rows: list[dict], epsilon: float) -> list[dict]:
    """Mean Access and No Access IIA of each method (MAS included) with a 95 % bootstrap interval over seeds;
    CLMAS at the chosen ε."""
    out = []
    for method in ["mas", *METHODS]:
        mine = [r for r in rows if r["method"] == method and (method != "clmas" or r["cl_weight"] == epsilon)]
        for side in SIDES:
            if mine:
                interval = bootstrap_interval([r[side] for r in mine]).as_dict()
                out.append({"method": method, "side": side, **interval, "seeds": [r["seed"] for r in mine]})
    return out


def plot(bars_: list[dict], epsilon: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    width = 0.8 / len(METHODS)
    for i, (method, label) in enumerate(METHODS.items()):
        mine = {b["side"]: b for b in bars_ if b["method"] == method}
        x = [j + (i - (len(METHODS) - 1) / 2) * width for j in range(len(SIDES))]
        points = [mine[s] for s in SIDES]
        label = f"{label} (ε = {epsilon:g})" if method == "clmas" else label
        ax.bar(x, [p["mean"] for p in points], width, yerr=interval_yerr(points), capsize=3, label=label)
    upper = {b["side"]: b for b in bars_ if b["method"] == "mas"}
    for j, side in enumerate(SIDES):
        ax.hlines(upper[side]["mean"], j - 0.45, j + 0.45, colors="black", linestyles="dashed",
                  label="MAS, full access" if j == 0 else None)
        ax.fill_between([j - 0.45, j + 0.45], upper[side]["low"], upper[side]["high"], color="black", alpha=0.12,
                        linewidth=0)
    ax.set_xticks(range(len(SIDES)), ["Access", "No Access"])
    ax.set_ylabel("held-out IIA (trial accuracy)")
    ax.set_ylim(0, 1.2)
    ax.set_title("Multi-Object GRUs, one model inaccessible")
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=2)
    save_figure(fig, path)


def run_figure_3a(
    config: Figure3a, out: Path, table: Path, show_progress: bool = True, runner: JobRunner | None = None
) -> dict:
    """Train or reuse both GRUs, run (or resume) the trainings, choose ε, then write the PNG and its tables.

    Besides figure_3a.png/.csv/.json the run folder holds figure_3a_epsilon.csv, the ε grid with
    each ε's validation Access IIA and which was chosen.
    """

    def draw(rows: list[dict], png: Path) -> dict:
        epsilon = choose_epsilon(rows, config.inaccessible)
        summary = {"epsilon": epsilon, "bars": bars(rows, epsilon["chosen"])}
        plot(summary["bars"], epsilon["chosen"], png)
        grid = [{**g, "seeds": " ".join(map(str, g["seeds"])), "chosen": g["epsilon"] == epsilon["chosen"]}
                for g in epsilon["grid"]]
        write_csv(png.with_name("figure_3a_epsilon.csv"), grid, ["epsilon", "mean", "low", "high", "n", "seeds", "chosen"])
        return summary

    columns = ["method", "size", "seed", "cl_weight", "access", "no_access", "steps", "selected_step", "latent_pairs",
               "latent_pairs_dropped", "seconds"]
    return run_sweep_figure(config, config.specs, out, table, "figure_3a", draw, columns, show_progress, runner)
