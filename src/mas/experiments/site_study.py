"""Where does a task model carry a variable? DAS per site, pair scheme and k, chosen on validation.

A transformer need not keep its count where a recurrent model does: the residual stream after one
layer may spread it over positions, so that swapping one position ("single" pairs) cannot move it
while swapping every position up to t ("stepwise") can. The study runs DAS within each model for
every (site, scheme, k); the setting chosen has the best validation IIA averaged over the models, so
the test IIA reported beside it played no part in the choice. Each finished DAS run is kept in
`<out>.parts/`, so an interrupted study redoes only the runs that had not finished.

`search_sites` is the same study on any adapters that run a task's sequences: a `ModuleAdapter`
with a list of module paths, say, or several models of one's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from mas.adapters import ModelAdapter
from mas.errors import MasError
from mas.experiments.alignment import load_task_models
from mas.experiments.das import DasBudget, das_score, study_pairs
from mas.io import cached_result, read_json, write_csv, write_json
from mas.run_folder import staged_folder
from mas.tasks import CausalModel
from mas.tasks.pairs import Mode, PairSet

COLUMNS = ("model", "site", "mode", "k", "validation_iia", "test_iia", "test_token_iia", "steps", "seconds")
SETTING = ("site", "mode", "k")


class SiteSearch(DasBudget):
    """The settings to try and the DAS budget per setting."""

    variable: str = "count"
    sites: list[str] | None = Field(None, description="default: every site of the first model")
    modes: list[Mode] = Field(default_factory=lambda: ["single", "stepwise"], min_length=1)
    ks: list[int] = Field(default_factory=lambda: [16, 64], min_length=1)
    free_running: bool = Field(True, description="test IIA with the model feeding itself its answers; "
                               "False scores teacher-forced, as language models (HFAdapter) must be")


class SiteStudyConfig(SiteSearch):
    """The model folders `mas train` wrote, the settings to try and the DAS budget per setting."""

    models: list[Path] = Field(min_length=1)


# DAS of one model at one (site, scheme, k), given how to compute it: the study's cache wraps it.
Scorer = Callable[[ModelAdapter, str, str, int, Callable[[], dict]], dict]
StudyPairs = tuple[PairSet, PairSet, PairSet]  # training, validation, test


def _uncached(adapter: ModelAdapter, site: str, mode: str, k: int, score: Callable[[], dict]) -> dict:
    return score()


def search_sites(
    adapters: Sequence[ModelAdapter], task: CausalModel | Sequence[CausalModel], search: SiteSearch,
    show_progress: bool = False, log: Callable[[str], None] = print, scorer: Scorer = _uncached,
) -> dict:
    """DAS per model, site, scheme and k on any adapters that run `task` (or each its own task, with
    the same variables); the rows, the per-setting means over the models and the setting best on
    validation. Sites default to the first model's (for a `ModuleAdapter` every module path: pass a
    short list)."""
    tasks = [task] * len(adapters) if isinstance(task, CausalModel) else list(task)
    if not adapters or len(tasks) != len(adapters):
        raise MasError(f"{len(adapters)} models but {len(tasks)} tasks")
    for adapter, own in zip(adapters, tasks):
        if search.variable not in own.variables:
            raise MasError(f"{adapter.name} ({own.name}) has no variable {search.variable!r}")
    pairs = [{mode: study_pairs(own, search.variable, search.sizes, search.seed, mode) for mode in search.modes}
             for own in tasks]
    return search_sites_on_pairs(adapters, pairs, search.sites, search.ks, search, search.free_running, show_progress,
                                 log, scorer)


def check_sites(adapters: Sequence[ModelAdapter], sites: Sequence[str] | None, ks: Sequence[int]) -> None:
    """Refuse an unknown site or a k wider than a site before any training."""
    for adapter in adapters:
        width = min(adapter.width(site) for site in sites or adapter.sites)
        if max(ks) > width:
            raise MasError(f"k = {max(ks)} is wider than a site of {adapter.name} ({width})")


def search_sites_on_pairs(
    adapters: Sequence[ModelAdapter], pairs: Sequence[Mapping[str, StudyPairs]], sites: Sequence[str] | None,
    ks: Sequence[int], budget: DasBudget, free_running: bool = True, show_progress: bool = False,
    log: Callable[[str], None] = print, scorer: Scorer = _uncached,
) -> dict:
    """The study on given pairs: per model, its (training, validation, test) pairs under each scheme's
    name (a pair file's pairs, say, for a language model, scored teacher-forced)."""
    check_sites(adapters, sites, ks)
    sites = sites or list(adapters[0].sites)
    rows = []
    for adapter, schemes in zip(adapters, pairs, strict=True):
        for site, mode, k in [(site, mode, k) for site in sites for mode in schemes for k in ks]:
            score = scorer(adapter, site, mode, k,
                           partial(das_score, adapter, site, budget.align(k), schemes[mode], show_progress,
                                   free_running))
            rows.append({"model": adapter.name, "site": site, "mode": mode, "k": k, **score})
            log(f"{adapter.name} {site} {mode} k={k}: validation {score['validation_iia']:.3f}, "
                f"test {score['test_iia']:.3f} [{score['seconds']:.0f} s]")
    summary = summarize(rows)
    return {"rows": rows, "summary": summary, "chosen": max(summary, key=lambda s: s["validation_iia"])}


def run_site_study(
    cfg: SiteStudyConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print
) -> dict:
    """`search_sites` on task models `mas train` wrote, each finished DAS run kept in `<out>.parts/`;
    write the rows and the per-setting means (CSV, JSON)."""
    start = time.perf_counter()
    adapters, configs = load_task_models(cfg.models)
    if len({config.task for config in configs}) > 1:  # the study's means are over models of one task
        tasks = ", ".join(f"{adapter.name} ({config.task})" for adapter, config in zip(adapters, configs))
        raise MasError(f"the models must share one task: {tasks}")
    parts = out.with_name(f"{out.name}.parts")
    folders = {id(adapter): path for adapter, path in zip(adapters, cfg.models)}

    def cached(adapter: ModelAdapter, site: str, mode: Mode, k: int, score: Callable[[], dict]) -> dict:
        key = {"align": cfg.align(k).model_dump(mode="json"), "site": site, "mode": mode, "variable": cfg.variable,
               "pairs": list(cfg.sizes), "model": read_json(folders[id(adapter)] / "config.json")}
        return cached_result(parts / f"{adapter.name}-{site}-{mode}-k{k}.json", key, score)

    tasks = [config.build_task() for config in configs]
    found = search_sites(adapters, tasks, cfg, show_progress, log, cached)
    results = {**found, "config": cfg.model_dump(mode="json"), "seconds": round(time.perf_counter() - start, 1)}
    write_study(out, "site study", cfg, results)
    return results


def write_study(out: Path, kind: str, cfg: BaseModel, results: dict) -> None:
    """A study's rows (`table.csv`), per-setting means (`summary.csv`) and everything (`results.json`)."""
    with staged_folder(out, kind, cfg) as folder:
        write_csv(folder / "table.csv", results["rows"], COLUMNS)
        write_csv(folder / "summary.csv", results["summary"], (*SETTING, "validation_iia", "test_iia", "n"))
        write_json(folder / "results.json", results)


def summarize(rows: list[dict]) -> list[dict]:
    """Per (site, scheme, k): validation and test IIA averaged over the models, in the rows' order."""
    settings = list(dict.fromkeys(tuple(r[f] for f in SETTING) for r in rows))
    summary = []
    for setting in settings:
        mine = [r for r in rows if tuple(r[f] for f in SETTING) == setting]
        summary.append({**dict(zip(SETTING, setting)), "n": len(mine),
                        **{m: float(np.mean([r[m] for r in mine])) for m in ("validation_iia", "test_iia")}})
    return summary
