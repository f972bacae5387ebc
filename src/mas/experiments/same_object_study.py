"""Which causal variable does a Same-Object GRU carry? DAS for each candidate variable at several k.

Same-Object sequences can be produced by several causal models (see `mas.tasks.same_object`): one
count that rises then falls, demo and response counts held apart, or a demo count handed to a
"remaining" count at the trigger. Each candidate variable gets its own counterfactual pairs and its
own DAS rotation per k; the variable picked is the one with the best *validation* IIA, so the test
IIA reported beside it played no part in the choice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from pydantic import Field

from mas.errors import MasError
from mas.experiments.alignment import load_task_models
from mas.experiments.das import DasBudget, das_score, study_pairs
from mas.io import write_csv, write_json
from mas.run_folder import staged_folder
from mas.tasks.same_object import CANDIDATES

COLUMNS = ("candidate", "k", "validation_iia", "test_iia", "test_token_iia", "steps", "seconds")


class StudyConfig(DasBudget):
    """The model, the candidates and the DAS budget per (candidate, k)."""

    model: Path
    candidates: list[str] = Field(default_factory=lambda: list(CANDIDATES), min_length=1)
    ks: list[int] = Field(default_factory=lambda: [4, 16, 64], min_length=1)
    site: str = "hidden"


def run_study(cfg: StudyConfig, out: Path, show_progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """DAS per candidate and k on the model's site; write the table (CSV, JSON) and name the best variable."""
    unknown = [c for c in cfg.candidates if c not in CANDIDATES]
    if unknown:
        raise MasError(f"unknown candidate {unknown[0]!r}; known: {', '.join(CANDIDATES)}")
    start = time.perf_counter()
    (adapter,), (model_cfg,) = load_task_models([cfg.model])
    if model_cfg.task != "same_object":
        raise MasError(f"{cfg.model} is a {model_cfg.task} model; the study needs a same_object one")
    width = adapter.width(cfg.site)
    if max(cfg.ks) > width:
        raise MasError(f"k = {max(cfg.ks)} is wider than the {cfg.site} site ({width})")
    rows = []
    for name in cfg.candidates:
        cls, variable = CANDIDATES[name]
        task = cls(**model_cfg.task_options)
        pairs = study_pairs(task, variable, cfg.sizes, cfg.seed)
        for k in cfg.ks:
            rows.append({"candidate": name, "k": k, **das_score(adapter, cfg.site, cfg.align(k), pairs, show_progress)})
            log(f"{name} k={k}: validation {rows[-1]['validation_iia']:.3f}, test {rows[-1]['test_iia']:.3f} "
                f"[{rows[-1]['seconds']:.0f} s]")
    chosen = max(rows, key=lambda r: r["validation_iia"])
    results = {"rows": rows, "chosen": chosen, "config": cfg.model_dump(mode="json"),
               "seconds": round(time.perf_counter() - start, 1)}
    with staged_folder(out, "same-object study", cfg) as folder:
        write_csv(folder / "table.csv", rows, COLUMNS)
        write_json(folder / "results.json", results)
    return results
