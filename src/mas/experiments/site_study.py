"""Where does a task model carry a variable? DAS per site, pair scheme and k, chosen on validation.

A transformer need not keep its count where a recurrent model does: the residual stream after one
layer may spread it over positions, so that swapping one position ("single" pairs) cannot move it
while swapping every position up to t ("stepwise") can. The study runs DAS within each model for
every (site, scheme, k); the setting chosen has the best validation IIA averaged over the models, so
the test IIA reported beside it played no part in the choice. Each finished DAS run is kept in
`<out>.parts/`, so an interrupted study redoes only the runs that had not finished.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import Field

from mas.errors import MasError
from mas.experiments.alignment import load_task_models
from mas.experiments.das import DasBudget, das_score, study_pairs
from mas.io import cached_result, read_json, write_csv, write_json
from mas.run_folder import staged_folder
from mas.tasks.pairs import Mode

COLUMNS = ("model", "site", "mode", "k", "validation_iia", "test_iia", "test_token_iia", "steps", "seconds")
SETTING = ("site", "mode", "k")


class SiteStudyConfig(DasBudget):
    """The models, the settings to try and the DAS budget per setting."""

    models: list[Path] = Field(min_length=1)
    variable: str = "count"
    sites: list[str] | None = Field(None, description="default: every site of the first model")
    modes: list[Mode] = Field(default_factory=lambda: ["single", "stepwise"], min_length=1)
    ks: list[int] = Field(default_factory=lambda: [16, 64], min_length=1)


def run_site_study(
    cfg: SiteStudyConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print
) -> dict:
    """DAS per model, site, scheme and k; write the rows and the per-setting means (CSV, JSON); name the best."""
    start = time.perf_counter()
    adapters, configs = load_task_models(cfg.models)
    if len({config.task for config in configs}) > 1:  # the study's means are over models of one task
        tasks = ", ".join(f"{adapter.name} ({config.task})" for adapter, config in zip(adapters, configs))
        raise MasError(f"the models must share one task: {tasks}")
    sites = cfg.sites or list(adapters[0].sites)
    for adapter, config in zip(adapters, configs):
        if cfg.variable not in config.build_task().variables:
            raise MasError(f"{adapter.name} ({config.task}) has no variable {cfg.variable!r}")
        width = min(adapter.width(site) for site in sites)  # unknown sites fail here, before any training
        if max(cfg.ks) > width:
            raise MasError(f"k = {max(cfg.ks)} is wider than a site of {adapter.name} ({width})")
    parts = out.with_name(f"{out.name}.parts")
    settings = [(site, mode, k) for site in sites for mode in cfg.modes for k in cfg.ks]
    rows = []
    for path, adapter, config in zip(cfg.models, adapters, configs):
        pairs = {mode: study_pairs(config.build_task(), cfg.variable, cfg.sizes, cfg.seed, mode) for mode in cfg.modes}
        for site, mode, k in settings:
            align = cfg.align(k)
            key = {"align": align.model_dump(mode="json"), "site": site, "mode": mode, "variable": cfg.variable,
                   "pairs": list(cfg.sizes), "model": read_json(path / "config.json")}
            score = cached_result(parts / f"{adapter.name}-{site}-{mode}-k{k}.json", key,
                                  partial(das_score, adapter, site, align, pairs[mode], show_progress))
            rows.append({"model": adapter.name, "site": site, "mode": mode, "k": k, **score})
            log(f"{adapter.name} {site} {mode} k={k}: validation {score['validation_iia']:.3f}, "
                f"test {score['test_iia']:.3f} [{score['seconds']:.0f} s]")
    summary = summarize(rows)
    chosen = max(summary, key=lambda s: s["validation_iia"])
    results = {"rows": rows, "summary": summary, "chosen": chosen, "config": cfg.model_dump(mode="json"),
               "seconds": round(time.perf_counter() - start, 1)}
    with staged_folder(out, "site study", cfg) as folder:
        write_csv(folder / "table.csv", rows, COLUMNS)
        write_csv(folder / "summary.csv", summary, (*SETTING, "validation_iia", "test_iia", "n"))
        write_json(folder / "results.json", results)
    return results


def summarize(rows: list[dict]) -> list[dict]:
    """Per (site, scheme, k): validation and test IIA averaged over the models, in the rows' order."""
    settings = list(dict.fromkeys(tuple(r[f] for f in SETTING) for r in rows))
    summary = []
    for setting in settings:
        mine = [r for r in rows if tuple(r[f] for f in SETTING) == setting]
        summary.append({**dict(zip(SETTING, setting)), "n": len(mine),
                        **{m: float(np.mean([r[m] for r in mine])) for m in ("validation_iia", "test_iia")}})
    return summary
