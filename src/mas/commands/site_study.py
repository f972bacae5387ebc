"""`mas site-study`: DAS within task models per site, pair scheme and k, to find where a variable lives."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import typer
from rich.table import Table

from mas.commands._shared import (
    JSON_HELP,
    OVERWRITE_HELP,
    RUNS,
    command,
    emit_json,
    int_list,
    log_line,
    name_list,
    note_resume,
    out_console,
    setting,
)
from mas.errors import MasError
from mas.experiments.site_study import SiteStudyConfig, run_site_study
from mas.run_folder import claim_folder
from mas.tasks.pairs import Mode


def _modes(text: str) -> list[str]:
    unknown = [m for m in name_list(text) if m not in get_args(Mode)]
    if unknown:
        raise MasError(f"unknown pair scheme {unknown[0]!r}; use {' or '.join(get_args(Mode))}")
    return name_list(text)


@command
def site_study(
    models: list[Path] = typer.Argument(..., help="Model folders written by `mas train` (one task)."),
    variable: str = setting(SiteStudyConfig, "variable", help="The causal variable to look for."),
    sites: str | None = setting(SiteStudyConfig, "sites",
                                   help="Comma-separated sites (default: every site of the first model)."),
    modes: str = setting(SiteStudyConfig, "modes", help="Comma-separated pair schemes: single, stepwise."),
    ks: str = setting(SiteStudyConfig, "ks", help="Comma-separated subspace sizes."),
    steps: int = setting(SiteStudyConfig, "steps", help="Maximum DAS steps per setting."),
    batch_size: int = setting(SiteStudyConfig, "batch_size", help="Pairs per step."),
    train_pairs: int = setting(SiteStudyConfig, "train_pairs"),
    validation_pairs: int = setting(SiteStudyConfig, "validation_pairs",
                                    help="Pairs that pick the best step and the best setting."),
    test_pairs: int = setting(SiteStudyConfig, "test_pairs", help="Held-out pairs, scored once per setting."),
    seed: int = setting(SiteStudyConfig, "seed"),
    out: Path = typer.Option(RUNS / "site_study", help="Run folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Where does the model carry the variable? Held-out DAS IIA per site, scheme and k; the best on validation is named."""
    cfg = SiteStudyConfig(models=models, variable=variable, sites=name_list(sites or "") or None, modes=_modes(modes),
                          ks=int_list(ks, "--ks"), steps=steps, batch_size=batch_size, train_pairs=train_pairs,
                          validation_pairs=validation_pairs, test_pairs=test_pairs, seed=seed)
    claim_folder(out, "site study", cfg, overwrite=overwrite)
    note_resume(f"finished DAS runs are kept in {out}.parts/; run the same command to resume")
    results = run_site_study(cfg, out, log=log_line)
    table = Table(title=f"DAS on {variable}, mean over {len(models)} model(s)")
    for column in ("site", "scheme", "k", "validation IIA", "test IIA"):
        table.add_column(column, justify="left" if column in ("site", "scheme") else "right")
    for s in results["summary"]:
        table.add_row(s["site"], s["mode"], str(s["k"]), f"{s['validation_iia']:.3f}", f"{s['test_iia']:.3f}")
    out_console.print(table)
    chosen = results["chosen"]
    out_console.print(f"best on validation: {chosen['site']}, {chosen['mode']}, k={chosen['k']}: test IIA "
                      f"{chosen['test_iia']:.3f}; {results['seconds']:.0f} s; table in {out}/", highlight=False)
    if json_out:
        emit_json({"rows": results["rows"], "summary": results["summary"], "chosen": chosen, "out": str(out)})
