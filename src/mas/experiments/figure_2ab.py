"""Figure 2a/2b: MAS beside CKA and RSA, GRU vs GRU and GRU vs transformer, at two sites.

Every comparison of two models is scored at the input embeddings and at the hidden state, once
causally (held-out MAS IIA, one run per alignment seed; a run's cross value is the mean of its two
cross directions, and its own self directions give each model's value against itself) and once
correlationally (linear CKA and cosine/Spearman RSA on the same stimuli, over row subsamples; a
model against itself gives the reference value). Each bar is a mean with a 95 % bootstrap interval
over its runs: MAS over model pairs × seeds, CKA and RSA over model pairs × subsamples. Pairs and
stimuli come from the first model's task, so the GRU comes first: GRUs are trained without void
tokens. Models are trained on first use.

At the embeddings MAS uses stepwise pairs by default: one swapped token embedding names a token, not
a count, so a single-position swap there cannot move the count however well the spaces align, while
swapping every embedding up to t moves it exactly when the aligned subspace carries the token types.

Panel b′ compares the GRU's hidden state with the transformer at the site, pair scheme and k where
DAS within the transformer works best on validation (`mas site-study`): at panel b's `layers.0`
with single pairs the transformer's count cannot be moved even within the model, so panel b's
hidden-state bars have no ceiling. In the 2-layer transformer only the embeddings with stepwise
pairs carry it (DAS test IIA 0.99 at k = 16 and 64): a residual stream swapped at positions up to t is
read again by later positions beside their own unswapped states, which still hold the target's
tokens, and `layers.1` is read by no later position at all.
"""

from __future__ import annotations

import inspect
import shutil
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from pydantic import BaseModel, Field, field_validator

from mas.align import AlignConfig
from mas.evaluate import bootstrap_interval
from mas.experiments.activations import check_similarity_inputs, model_activations, repeated_similarity
from mas.experiments.alignment import AlignmentJob, run_alignment
from mas.experiments.outputs import OUTPUTS
from mas.io import read_json, write_csv, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.models.transformer import TransformerModel
from mas.plots import interval_yerr, plt, save_figure
from mas.run_folder import staged_folder
from mas.runner import JobRunner, Part, Resources, cached_map
from mas.tasks.pairs import Mode

# Where each architecture keeps the state of each site class; the transformer's hidden state is
# the residual stream after the first of its two layers (panel b′ names its own transformer site).
SITES = {"embeddings": {"gru": "embed", "transformer": "embed"}, "hidden": {"gru": "hidden", "transformer": "layers.0"}}
CORRELATIONAL = ("cka_linear", "rsa_cosine_spearman")
MEASURES = ("mas_iia", *CORRELATIONAL)
PANELS = {"a": "GRU – GRU", "b": "GRU – Transformer", "b2": "GRU – Transformer"}
PANEL_LABELS = {"a": "a", "b": "b", "b2": "b′"}
COLUMNS = ("panel", "site", "model_a", "model_b", "arch_a", "arch_b", "site_a", "site_b", "mode", "k", "seed", "kind",
           "measure", "value", "std", "n")


class Figure2abConfig(BaseModel):
    """Which models and alignment seeds to compare and how long MAS may train."""

    models_dir: Path = Path("runs/models")
    gru_seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=2)
    transformer_seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, description="MAS alignment seeds")
    k_hidden: int = Field(32, ge=1)
    k_embed: int = Field(32, ge=1, description="the hidden-state k by default, so the two sites differ only in place")
    steps: int = Field(600, ge=1, description="maximum MAS steps per run")
    embedding_mode: Mode = "stepwise"
    hidden_mode: Mode = "single"
    b2_site: str | None = Field("embed", description="panel b′'s transformer site; None leaves the panel out")
    b2_mode: Mode = "stepwise"
    b2_k: int = Field(64, ge=1)
    train_pairs: int = Field(4096, ge=1)
    test_pairs: int = Field(1000, ge=1)
    repeats: int = Field(10, ge=1)
    rows: int = Field(1000, ge=4)
    per_count: int = Field(15, ge=1)
    seed: int = Field(0, description="seed of the CKA/RSA stimuli and row subsamples")

    @field_validator("b2_site")
    @classmethod
    def _b2_site(cls, site: str | None) -> str | None:
        """Panel b′ comes last: a site the figure's transformers lack is refused before any model is trained."""
        layers = inspect.signature(TransformerModel).parameters["layers"].default  # the figure's depth
        sites = ("embed", *(f"layers.{i}" for i in range(layers)))
        if site is not None and site not in sites:
            raise ValueError(f"the transformers have no site {site!r}; use one of {', '.join(sites)}")
        return site

    def comparisons(self) -> Iterator[tuple[str, str, TrainConfig, TrainConfig]]:
        """(panel, site class, first model, second model). Panel a: every pair of GRU seeds; panels b and
        b′: the i-th GRU with the i-th transformer (cycling)."""
        grus = [TrainConfig(task="multi_object", arch="gru", seed=s) for s in self.gru_seeds]
        transformers = [TrainConfig(task="multi_object", arch="transformer", seed=s) for s in self.transformer_seeds]
        mixed = [(grus[i % len(grus)], transformers[i % len(transformers)]) for i in range(max(len(grus), len(transformers)))]
        panels = [("a", list(combinations(grus, 2)), list(SITES)), ("b", mixed, list(SITES))]
        if self.b2_site:
            panels.append(("b2", mixed, ["hidden"]))
        for panel, pairs, sites in panels:
            for site in sites:
                for a, b in pairs:
                    yield panel, site, a, b

    def place(self, panel: str, site: str, arch: str) -> str:
        return self.b2_site if (panel, arch) == ("b2", "transformer") else SITES[site][arch]  # type: ignore[return-value]

    def k(self, panel: str, site: str) -> int:
        return self.b2_k if panel == "b2" else self.k_hidden if site == "hidden" else self.k_embed

    def mode(self, panel: str, site: str) -> Mode:
        return self.b2_mode if panel == "b2" else self.hidden_mode if site == "hidden" else self.embedding_mode


def run_figure_2ab(
    cfg: Figure2abConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print,
    runner: JobRunner | None = None,
) -> dict:
    """Train or reuse the models, score every comparison (MAS once per seed), write PNG, CSV and JSON.

    Each MAS run and each comparison's CKA and RSA is a job on `runner` (in this process by default;
    on Ray each asks for one CPU and reads the models from their folders, and a MAS run writes its own
    run folder, so on a cluster the models and OUT must be on a file system every node sees). The
    CKA/RSA jobs come last, after their inputs were checked here: on parallel workers they fill the
    time a worker would otherwise wait for the longest MAS run. Each MAS run's folder and each
    comparison's CKA/RSA values are kept in `<out>.parts/` as soon as they exist, with the inputs that
    made them, so an interrupted figure redoes only what had not finished. Seeds go in the outer loop,
    so a partial in-process run already covers every comparison.
    """
    start = time.perf_counter()
    parts = out.with_name(f"{out.name}.parts")
    comparisons = []
    for panel, site, *pair in cfg.comparisons():
        # Models are trained on first use, and each comparison's CKA/RSA inputs are checked as soon as
        # its models exist: bad sites or rows fail before any model is trained or aligned.
        paths = [ensure_model(c, cfg.models_dir, show_progress) for c in pair]
        comparisons.append(_Comparison(cfg, panel, site, (pair[0].arch, pair[1].arch), paths))
        check_similarity_inputs(paths, comparisons[-1].sites, cfg.rows, cfg.per_count, cfg.seed)
    runs = [(seed, c) for seed in cfg.seeds for c in comparisons]
    jobs = [c.mas_part(seed, parts) for seed, c in runs] + [c.similarity_part(parts) for c in comparisons]
    finished = cached_map(runner or JobRunner(), run_part, None, jobs, _describe, Resources(cpus=1), show_progress)
    mas, similarity = finished[: len(runs)], finished[len(runs):]
    by_comparison = {c.name: c.similarity_rows(result) for c, result in zip(comparisons, similarity)}
    for (seed, comparison), result in zip(runs, mas):
        by_comparison[comparison.name] += comparison.mas_rows(seed, result)
    for c in comparisons:
        scores = "; ".join(f"{r['measure']} {r['value']:.3f}" for r in by_comparison[c.name] if r["kind"] == "cross")
        log(f"panel {PANEL_LABELS[c.panel]}, {c.site}: {c.models[0]} ({c.sites[0]}) vs {c.models[1]} ({c.sites[1]}): "
            f"{scores}")
    rows = [r for c in comparisons for r in by_comparison[c.name]]
    summary = summarize_rows(rows)
    results = {"summary": summary, "rows": rows, "seconds": round(time.perf_counter() - start, 1),
               "mas_seconds": round(sum(r["seconds"] for r in mas), 1), "config": cfg.model_dump(mode="json")}
    with staged_folder(out, OUTPUTS["2ab"].marker, cfg) as folder:
        for seed, comparison in runs:
            name = comparison.run_name(seed)
            shutil.copytree(parts / name, folder / "mas" / name)
        write_json(folder / OUTPUTS["2ab"].results, results)
        write_csv(folder / OUTPUTS["2ab"].csv, rows, COLUMNS)
        plot_figure_2ab(summary, cfg, folder / OUTPUTS["2ab"].png)
    return results


@dataclass(frozen=True)
class MasRun:
    """One MAS run of a figure: what to align and the folder the run writes."""

    job: AlignmentJob
    folder: Path

    def __call__(self) -> dict:
        return run_alignment(self.job, self.folder, show_progress=False)


@dataclass(frozen=True)
class SimilarityRun:
    """One comparison's CKA and RSA: between the two models, then of each with itself."""

    paths: list[Path]
    sites: list[str]
    per_count: int
    rows: int
    repeats: int
    seed: int

    def __call__(self) -> dict:
        start = time.perf_counter()
        x, y = model_activations(self.paths, self.sites, self.per_count, self.seed)
        pairs = [repeated_similarity(left, right, CORRELATIONAL, self.rows, self.repeats, self.seed)
                 for left, right in ((x, y), (x, x), (y, y))]
        return {"pairs": pairs, "seconds": round(time.perf_counter() - start, 1)}


def run_part(_: None, run: MasRun | SimilarityRun) -> dict:
    """One job of the figure, in the form a job runner calls."""
    return run()


def _describe(result: dict) -> str:
    if "pairs" in result:
        return "; ".join(f"{m} {float(np.mean(v)):.3f}" for m, v in result["pairs"][0].items())
    return ", ".join(f"{d} {v:.3f}" for d, v in result["iia"].items()) + f"; control {result['control_iia']:.3f}"


class _Comparison:
    """Two models of one panel at one site class: their MAS runs and their CKA/RSA values, as rows."""

    def __init__(self, cfg: Figure2abConfig, panel: str, site: str, arches: tuple[str, str], paths: list[Path]) -> None:
        self.cfg, self.panel, self.site, self.arches, self.paths = cfg, panel, site, arches, paths
        self.sites = [cfg.place(panel, site, arch) for arch in arches]
        self.models = [p.name for p in paths]
        self.configs = [read_json(p / "config.json") for p in paths]
        self.name = f"{panel}-{site}-{self.models[0]}-{self.models[1]}"

    def row(self, kind: str, measure: str, pair: tuple[int, int], values: list[float], seed: int | None) -> dict:
        return {"panel": self.panel, "site": self.site, "model_a": self.models[pair[0]], "model_b": self.models[pair[1]],
                "site_a": self.sites[pair[0]], "site_b": self.sites[pair[1]], "arch_a": self.arches[pair[0]],
                "arch_b": self.arches[pair[1]], "mode": self.cfg.mode(self.panel, self.site),
                "k": self.cfg.k(self.panel, self.site), "seed": seed, "kind": kind, "measure": measure,
                "value": float(np.mean(values)), "std": float(np.std(values)), "n": len(values), "values": values}

    def run_name(self, seed: int) -> str:
        return f"{self.name}-seed{seed}"

    def mas_part(self, seed: int, parts: Path) -> Part:
        """The MAS run of this comparison with alignment seed `seed`, kept in `parts/` with its inputs."""
        cfg = self.cfg
        align = AlignConfig(k=cfg.k(self.panel, self.site), steps=cfg.steps, seed=seed)
        job = AlignmentJob(models=self.paths, sites=self.sites, mode=cfg.mode(self.panel, self.site),
                           train_pairs=cfg.train_pairs, test_pairs=cfg.test_pairs, align=align)
        # Unset optional settings are left out of the key, so a new optional setting keeps the finished runs.
        key = {"job": job.model_dump(mode="json", exclude={"models"}, exclude_none=True), "models": self.configs}
        name = self.run_name(seed)
        label = f"panel {PANEL_LABELS[self.panel]}, {self.site}, seed {seed}: {self.models[0]} vs {self.models[1]}"
        return Part(parts / f"{name}.json", key, MasRun(job, parts / name), label)

    def mas_rows(self, seed: int, mas: dict) -> list[dict]:
        """One MAS run's rows: its cross value (mean of the two cross directions), control and self values."""
        iia = mas["iia"]
        return [self.row("cross", "mas_iia", (0, 1), [iia["0->1"], iia["1->0"]], seed),
                self.row("control", "mas_iia", (0, 1), [mas["control_iia"]], seed),
                self.row("self", "mas_iia", (0, 0), [iia["0->0"]], seed),
                self.row("self", "mas_iia", (1, 1), [iia["1->1"]], seed)]

    def similarity_part(self, parts: Path) -> Part:
        """This comparison's CKA and RSA, kept in `parts/` with its inputs."""
        cfg = self.cfg
        key = {"kind": "similarity", "sites": self.sites, "per_count": cfg.per_count, "rows": cfg.rows,
               "repeats": cfg.repeats, "seed": cfg.seed, "models": self.configs}
        run = SimilarityRun(self.paths, self.sites, cfg.per_count, cfg.rows, cfg.repeats, cfg.seed)
        label = f"panel {PANEL_LABELS[self.panel]}, {self.site}, CKA and RSA: {self.models[0]} vs {self.models[1]}"
        return Part(parts / f"{self.name}-similarity.json", key, run, label)

    def similarity_rows(self, result: dict) -> list[dict]:
        """CKA and RSA rows over row subsamples, between the two models and of each with itself."""
        return [self.row("cross" if a != b else "self", m, (a, b), values, None)
                for (a, b), by_measure in zip([(0, 1), (0, 0), (1, 1)], result["pairs"]) for m, values in by_measure.items()]


def bar_values(rows: list[dict], panel: str, site: str, measure: str, kind: str = "cross",
               arch: str | None = None) -> list[float]:
    """The values one bar pools: one per MAS run (model pair × seed), one per CKA/RSA subsample and pair."""
    mine = [r for r in rows if (r["panel"], r["site"], r["measure"], r["kind"]) == (panel, site, measure, kind)
            and arch in (None, r["arch_a"])]
    return [v for r in mine for v in (r["values"] if measure in CORRELATIONAL else [r["value"]])]


def summarize_rows(rows: list[dict]) -> list[dict]:
    """Per panel, site and measure: mean and 95 % bootstrap interval of the cross values, each
    architecture's self values and the control, with the sites and scheme compared."""
    summary = []
    for panel in PANELS:
        for site in SITES:
            for measure in MEASURES:
                mine = [r for r in rows if (r["panel"], r["site"], r["measure"]) == (panel, site, measure)]
                if not mine:
                    continue
                entry = {"panel": panel, "site": site, "measure": measure, "site_a": mine[0]["site_a"],
                         "site_b": mine[0]["site_b"], "mode": mine[0]["mode"], "k": mine[0]["k"],
                         "cross": _interval(bar_values(rows, panel, site, measure))}
                for arch in ("gru", "transformer"):
                    entry[f"self_{arch}"] = _interval(bar_values(rows, panel, site, measure, "self", arch))
                entry["control"] = _interval(bar_values(rows, panel, site, measure, "control"))
                summary.append(entry)
    return summary


def _interval(values: list[float]) -> dict | None:
    return bootstrap_interval(values).as_dict() if values else None


def plot_figure_2ab(summary: list[dict], cfg: Figure2abConfig, path: Path) -> None:
    """One panel per comparison; per site MAS IIA on the left axis, CKA and RSA on the right, each bar
    with its 95 % bootstrap interval; self values as black lines."""
    labels = {"mas_iia": "MAS IIA", "cka_linear": "CKA (linear)", "rsa_cosine_spearman": "RSA (cosine, Spearman)"}
    colours = {"mas_iia": "tab:blue", "cka_linear": "tab:orange", "rsa_cosine_spearman": "tab:green"}
    selves = {"self_gru": ("--", "self: GRU"), "self_transformer": (":", "self: Transformer")}
    width = 0.26
    panels = {p: [s for s in SITES if any((e["panel"], e["site"]) == (p, s) for e in summary)] for p in PANELS}
    panels = {p: sites for p, sites in panels.items() if sites}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * sum(map(len, panels.values())) + 1.5, 4.2), sharey=True,
                             squeeze=False, width_ratios=[len(sites) for sites in panels.values()])
    legend: dict[str, object] = {}
    for ax, (panel, sites) in zip(axes[0], panels.items()):
        right = ax.twinx()
        for j, measure in enumerate(MEASURES):
            on = ax if measure == "mas_iia" else right
            for i, site in enumerate(sites):
                key = (panel, site, measure)
                entry = next((e for e in summary if (e["panel"], e["site"], e["measure"]) == key), None)
                if entry is None:
                    continue
                x = i + (j - 1) * width
                legend[labels[measure]] = on.bar(x, entry["cross"]["mean"], width, yerr=interval_yerr([entry["cross"]]),
                                                 capsize=3, color=colours[measure])
                for field, (style, label) in selves.items():
                    if entry[field] is not None:
                        legend[label] = on.hlines(entry[field]["mean"], x - width / 2, x + width / 2, colors="black",
                                                  linestyles=style, linewidth=1.2)
        ticks = {"embeddings": "embeddings", "hidden": "hidden states"}
        if panel == "b2":
            ticks["hidden"] = f"GRU hidden state,\ntransformer {cfg.b2_site}\n({cfg.b2_mode}, k={cfg.b2_k})"
        ax.set_xticks(range(len(sites)), [ticks[s] for s in sites])
        ax.set_xlim(-0.5, len(sites) - 0.5)
        ax.set_ylim(0, 1.08)
        right.set_ylim(0, 1.08)
        ax.set_ylabel("MAS IIA (held-out)")
        right.set_ylabel("CKA / RSA")
        ax.set_title(f"({PANEL_LABELS[panel]}) {PANELS[panel]}")
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=len(legend), fontsize=8,
               bbox_to_anchor=(0.5, -0.06), title="bars: cross, mean and 95 % bootstrap interval over runs; "
               "lines: each model against itself", title_fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
