"""Figure 2a/2b: MAS beside CKA and RSA, GRU vs GRU and GRU vs transformer, at two sites.

Every comparison of two models is scored at the input embeddings and at the hidden state, once
causally (held-out MAS IIA; the cross value is the mean of the two cross directions, and the run's
own self directions give each model's value against itself) and once correlationally (linear CKA
and cosine/Spearman RSA on the same stimuli, mean over row subsamples; a model against itself gives
the reference value). Pairs and stimuli come from the first model's task, so the GRU comes first:
GRUs are trained without void tokens. Models are trained on first use.

At the embeddings MAS uses stepwise pairs by default: one swapped token embedding names a token, not
a count, so a single-position swap there cannot move the count however well the spaces align, while
swapping every embedding up to t moves it exactly when the aligned subspace carries the token types.
"""

from __future__ import annotations

import shutil
import time
from itertools import combinations
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np
from pydantic import BaseModel, Field

from mas.align import AlignConfig
from mas.experiments.activations import model_activations, repeated_similarity
from mas.experiments.alignment import AlignmentJob, run_alignment
from mas.io import cached_result, read_json, staged_folder, write_csv, write_json
from mas.models.training import TrainConfig, ensure_model
from mas.plots import plt, save_figure

# Where each architecture keeps the state of each site class; the transformer's hidden state is
# the residual stream after the first of its two layers.
SITES = {"embeddings": {"gru": "embed", "transformer": "embed"}, "hidden": {"gru": "hidden", "transformer": "layers.0"}}
CORRELATIONAL = ("cka_linear", "rsa_cosine_spearman")
MEASURES = ("mas_iia", *CORRELATIONAL)
PANELS = {"a": "GRU – GRU", "b": "GRU – Transformer"}
COLUMNS = ("panel", "site", "model_a", "model_b", "arch_a", "arch_b", "site_a", "site_b", "kind", "measure", "value", "std",
           "n")


class Figure2abConfig(BaseModel):
    """Which seeds to compare and how long MAS may train."""

    models_dir: Path = Path("runs/models")
    gru_seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=2)
    transformer_seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    k_hidden: int = Field(32, ge=1)
    k_embed: int = Field(32, ge=1, description="the hidden-state k by default, so the two sites differ only in place")
    steps: int = Field(600, ge=1, description="maximum MAS steps per run")
    embedding_mode: Literal["single", "stepwise"] = "stepwise"
    hidden_mode: Literal["single", "stepwise"] = "single"
    train_pairs: int = Field(4096, ge=1)
    test_pairs: int = Field(1000, ge=1)
    repeats: int = Field(10, ge=1)
    rows: int = Field(1000, ge=4)
    per_count: int = Field(15, ge=1)
    seed: int = 0

    def comparisons(self) -> Iterator[tuple[str, TrainConfig, TrainConfig]]:
        """Panel a: every pair of GRU seeds. Panel b: the i-th GRU with the i-th transformer (cycling)."""
        grus = [TrainConfig(task="multi_object", arch="gru", seed=s) for s in self.gru_seeds]
        transformers = [TrainConfig(task="multi_object", arch="transformer", seed=s) for s in self.transformer_seeds]
        for a, b in combinations(grus, 2):
            yield "a", a, b
        for i in range(max(len(grus), len(transformers))):
            yield "b", grus[i % len(grus)], transformers[i % len(transformers)]

    def k(self, site: str) -> int:
        return self.k_hidden if site == "hidden" else self.k_embed

    def mode(self, site: str) -> Literal["single", "stepwise"]:
        return self.hidden_mode if site == "hidden" else self.embedding_mode


def run_figure_2ab(
    cfg: Figure2abConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print
) -> dict:
    """Train or reuse the models, score every comparison at both sites, write PNG, CSV and JSON.

    Each comparison's MAS run folder and rows are kept in `<out>.parts/` as soon as they exist, so
    an interrupted figure redoes only the comparisons that had not finished.
    """
    start = time.perf_counter()
    parts = out.with_name(f"{out.name}.parts")
    runs = [(panel, pair, site) for panel, *pair in cfg.comparisons() for site in SITES]
    rows: list[dict] = []
    names: list[str] = []
    for i, (panel, pair, site) in enumerate(runs, 1):
        # Models are trained on first use, so the comparisons of already trained models come first.
        paths = [ensure_model(c, cfg.models_dir, show_progress) for c in pair]
        began = time.perf_counter()
        log(f"[{i}/{len(runs)}] panel {panel}, {site}: {paths[0].name} vs {paths[1].name}")
        name = f"{panel}-{site}-{paths[0].name}-{paths[1].name}"
        names.append(name)
        key = {"config": cfg.model_dump(mode="json", exclude={"models_dir", "gru_seeds", "transformer_seeds"}),
               "panel": panel, "site": site, "models": [read_json(p / "config.json") for p in paths]}
        new = cached_result(parts / f"{name}.json", key, lambda: _compare(
            cfg, panel, site, (pair[0].arch, pair[1].arch), paths, parts / name, show_progress))
        rows += new
        scores = "; ".join(f"{r['kind']} {r['measure']} {r['model_a']}/{r['model_b']} {r['value']:.3f}" for r in new)
        log(f"  {scores}  [{time.perf_counter() - began:.0f} s]")
    summary = summarize_rows(rows)
    results = {"summary": summary, "rows": rows, "seconds": round(time.perf_counter() - start, 1),
               "config": cfg.model_dump(mode="json")}
    with staged_folder(out, "figure 2ab", cfg) as folder:
        for name in names:
            shutil.copytree(parts / name, folder / "mas" / name)
        write_json(folder / "results.json", results)
        write_csv(folder / "table.csv", rows, COLUMNS)
        plot_figure_2ab(summary, folder / "figure_2ab.png")
    return results


def _compare(
    cfg: Figure2abConfig, panel: str, site: str, arches: tuple[str, str], paths: list[Path], run: Path,
    show_progress: bool,
) -> list[dict]:
    """Rows for one model pair at one site class: cross, self and control values of every measure."""
    sites = [SITES[site][arch] for arch in arches]
    names = [p.name for p in paths]
    x, y = model_activations(paths, sites, cfg.per_count, cfg.seed)  # first: bad sites or rows fail before MAS
    align = AlignConfig(k=cfg.k(site), steps=cfg.steps, seed=cfg.seed)
    job = AlignmentJob(models=paths, sites=sites, mode=cfg.mode(site), train_pairs=cfg.train_pairs,
                       test_pairs=cfg.test_pairs, align=align)
    mas = run_alignment(job, run, show_progress)

    def row(kind: str, measure: str, pair: tuple[int, int], values: list[float]) -> dict:
        return {"panel": panel, "site": site, "model_a": names[pair[0]], "model_b": names[pair[1]],
                "site_a": sites[pair[0]], "site_b": sites[pair[1]], "kind": kind, "measure": measure,
                "arch_a": arches[pair[0]], "arch_b": arches[pair[1]], "value": float(np.mean(values)),
                "std": float(np.std(values)), "n": len(values), "values": values}

    iia = mas["iia"]
    rows = [row("cross", "mas_iia", (0, 1), [iia["0->1"], iia["1->0"]]),
            row("control", "mas_iia", (0, 1), [mas["control_iia"]]),
            row("self", "mas_iia", (0, 0), [iia["0->0"]]),
            row("self", "mas_iia", (1, 1), [iia["1->1"]])]
    scored = {(0, 1): (x, y), (0, 0): (x, x), (1, 1): (y, y)}
    for pair, (left, right) in scored.items():
        values = repeated_similarity(left, right, CORRELATIONAL, cfg.rows, cfg.repeats, cfg.seed)
        rows += [row("cross" if pair == (0, 1) else "self", m, pair, values[m]) for m in CORRELATIONAL]
    return rows


def summarize_rows(rows: list[dict]) -> list[dict]:
    """Per panel, site and measure: the cross value pooled over comparisons, and each architecture's self value."""
    summary = []
    for panel in PANELS:
        for site in SITES:
            for measure in MEASURES:
                mine = [r for r in rows if (r["panel"], r["site"], r["measure"]) == (panel, site, measure)]
                if not mine:
                    continue
                cross = [v for r in mine if r["kind"] == "cross" for v in r["values"]]
                entry = {"panel": panel, "site": site, "measure": measure,
                         "cross_mean": float(np.mean(cross)), "cross_std": float(np.std(cross))}
                for arch in ("gru", "transformer"):
                    own = [r["value"] for r in mine if r["kind"] == "self" and r["arch_a"] == arch]
                    entry[f"self_{arch}"] = float(np.mean(own)) if own else None
                controls = [r["value"] for r in mine if r["kind"] == "control"]
                entry["control"] = float(np.mean(controls)) if controls else None
                summary.append(entry)
    return summary


def plot_figure_2ab(summary: list[dict], path: Path) -> None:
    """Two panels; per site MAS IIA on the left axis, CKA and RSA on the right, self values dashed."""
    labels = {"mas_iia": "MAS IIA", "cka_linear": "CKA (linear)", "rsa_cosine_spearman": "RSA (cosine, Spearman)"}
    colours = {"mas_iia": "tab:blue", "cka_linear": "tab:orange", "rsa_cosine_spearman": "tab:green"}
    selves = {"self_gru": ("--", "self: GRU"), "self_transformer": (":", "self: Transformer")}
    width = 0.26
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (panel, title) in zip(axes, PANELS.items()):
        right = ax.twinx()
        for j, measure in enumerate(MEASURES):
            on = ax if measure == "mas_iia" else right
            for i, site in enumerate(SITES):
                key = (panel, site, measure)
                entry = next((e for e in summary if (e["panel"], e["site"], e["measure"]) == key), None)
                if entry is None:
                    continue
                x = i + (j - 1) * width
                on.bar(x, entry["cross_mean"], width, yerr=entry["cross_std"], capsize=3, color=colours[measure],
                       label=labels[measure] if i == 0 else None)
                for field, (style, label) in selves.items():
                    if entry[field] is not None:
                        on.hlines(entry[field], x - width / 2, x + width / 2, colors="black", linestyles=style,
                                  linewidth=1.2, label=label if (i, j) == (0, 0) else None)
        ax.set_xticks(range(len(SITES)), ["embeddings", "hidden states"])
        ax.set_ylim(0, 1.08)
        right.set_ylim(0, 1.08)
        ax.set_ylabel("MAS IIA (held-out)")
        right.set_ylabel("CKA / RSA")
        ax.set_title(f"({panel}) {title}")
        handles = [h for a in (ax, right) for h in a.get_legend_handles_labels()[0]]
        names = [n for a in (ax, right) for n in a.get_legend_handles_labels()[1]]
        right.legend(handles, names, fontsize=7, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)
