"""`mas site-study` and `mas lm-site-study`: DAS per site (and pair scheme) and k, to find where a variable lives."""

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
from mas.commands.lm import PAIRS_FILE_HELP
from mas.errors import MasError
from mas.experiments.lm_site_study import LMSiteStudyConfig
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
    _print_study(results, f"DAS on {variable}, mean over {len(models)} model(s)", out, json_out)


@command(work="lm")
def lm_site_study(
    model: str = typer.Argument(..., help="Hugging Face id, local folder or .gguf file."),
    pair_file: str = typer.Option(..., "--pairs-file", help=PAIRS_FILE_HELP),
    sites: str | None = setting(LMSiteStudyConfig, "sites",
                                help="Comma-separated sites (default: embed, then every block, attention and MLP)."),
    ks: str = setting(LMSiteStudyConfig, "ks", help="Comma-separated subspace sizes."),
    steps: int = setting(LMSiteStudyConfig, "steps", help="Maximum DAS steps per setting."),
    batch_size: int = setting(LMSiteStudyConfig, "batch_size", help="Pairs per step."),
    lr: float = setting(LMSiteStudyConfig, "lr"),
    train_pairs: int = setting(LMSiteStudyConfig, "train_pairs", help="At most this many of the file's first 60 %."),
    validation_pairs: int = setting(LMSiteStudyConfig, "validation_pairs",
                                    help="At most this many of the next 20 %: they pick the best step and setting."),
    test_pairs: int = setting(LMSiteStudyConfig, "test_pairs", help="At most this many of the last 20 %, scored once."),
    seed: int = setting(LMSiteStudyConfig, "seed", help="Shuffles the file before it is split."),
    out: Path = typer.Option(RUNS / "lm_site_study", help="Run folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Where does a language model carry what a pair file asks for? Held-out DAS IIA per site and k."""
    from mas.experiments.lm_site_study import preflight, run_lm_site_study
    from mas.lm.pair_files import pair_file_path

    cfg = LMSiteStudyConfig(model=model, pairs=pair_file_path(pair_file), sites=name_list(sites or "") or None,
                            ks=int_list(ks, "--ks"), steps=steps, batch_size=batch_size, lr=lr, train_pairs=train_pairs,
                            validation_pairs=validation_pairs, test_pairs=test_pairs, seed=seed)
    preflight(cfg)
    claim_folder(out, "lm site study", cfg, overwrite=overwrite)
    note_resume(f"finished DAS runs are kept in {out}.parts/; run the same command to resume")
    results = run_lm_site_study(cfg, out, log=log_line)
    _print_study(results, f"DAS of {model} on {cfg.pairs.name}", out, json_out)


def _print_study(results: dict, title: str, out: Path, json_out: bool) -> None:
    """The per-setting table, the setting best on validation, and the JSON summary if asked."""
    table = Table(title=title)
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
