"""One self-contained HTML page from the finished figure run folders: PNGs inline, tables, claims."""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path

from mas.io import read_json
from mas.report.figures import FIGURES, FigureSpec

MAX_TABLE_ROWS = 200  # beyond this the page points to the CSV in the run folder
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f2f2f2}.holds{background:#d9f2d9}.does-not-hold{background:#f7d4d4}
.not-established,.not-measured{background:#f6efcc}img{max-width:100%}details{margin:.5em 0}"""


def collect(runs: Path) -> list[dict]:
    """Per figure: whether it has finished under `runs`, and if so its results, judged claims and files."""
    figures = []
    for spec in FIGURES:
        folder = Path(runs) / spec.outputs.folder
        entry = {"figure": spec.name, "title": spec.title, "folder": str(folder),
                 "command": f"{spec.command} --out {folder}"}
        if not (folder / spec.outputs.results).is_file():
            figures.append({**entry, "finished": False})
            continue
        results = read_json(folder / spec.outputs.results)
        config = results.get("config", {})
        try:
            claims = [claim.judge() for claim in spec.claims(results)]
            problem = None
        except (KeyError, TypeError, IndexError) as err:
            claims, problem = [], f"results not in the form this report reads ({type(err).__name__}: {err})"
        figures.append({**entry, "finished": True, "seconds": results.get("seconds"), "config": config,
                        "seeds": {k: v for k, v in config.items() if "seed" in k}, "claims": claims,
                        "problem": problem, "protocol": results.get("protocol", [])})
    return figures


def describe(side: dict | None) -> str:
    """A judged side as mean [low, high] (n=runs), or the bare number of a fixed comparison."""
    if side is None:
        return "–"
    if side["n"] is None:
        return f"{side['mean']:.3f}"
    return f"{side['mean']:.3f} [{side['low']:.3f}, {side['high']:.3f}] (n={side['n']})"


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr class=\"{classes[i] if classes else ''}\">" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def claims_table(claims: list[dict]) -> str:
    rows = [[c["figure"], c["claim"], f"{c['ours_label']}: {describe(c['ours'])}", c["relation"],
             f"{c['other_label']}: {describe(c['other'])}", c.get("resampled", "runs"), c["verdict"]] for c in claims]
    classes = [c["verdict"].replace(" ", "-") for c in claims]
    return _table(["figure", "paper's claim", "ours (mean [95 % bootstrap interval])", "", "compared with",
                   "bootstrap resamples", "verdict"], rows, classes)


def protocol_table(config: dict, protocol: list[dict]) -> str:
    """Which protocol ran, and each setting beside the reference code's value and why they differ."""
    name = html.escape(str(config.get("protocol", "not recorded")))
    rows = [[p["setting"], json.dumps(p["ours"]), p["reference"], p["why"]] for p in protocol]
    return (f"<p>protocol: <b>{name}</b></p>"
            + _table(["setting", "ours", "reference code", "why they differ"], rows))


def _csv_table(path: Path) -> str:
    if not path.is_file():
        return "<p>no CSV in the run folder</p>"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return "<p>empty CSV</p>"
    shown = rows[1 : MAX_TABLE_ROWS + 1]
    more = len(rows) - 1 - len(shown)
    note = f"<p>{more} more rows in {html.escape(str(path))}</p>" if more > 0 else ""
    return _table(rows[0], shown) + note


def _png(path: Path) -> str:
    if not path.is_file():
        return "<p>no PNG in the run folder</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _section(spec: FigureSpec, entry: dict) -> str:
    folder = Path(entry["folder"])
    seconds = "not recorded" if entry["seconds"] is None else f"{entry['seconds']:.0f} s"
    parts = [f"<h2>{html.escape(spec.title)}</h2>",
             f"<p>run folder {html.escape(str(folder))}; wall time {seconds}; seeds "
             f"{html.escape(json.dumps(entry['seeds']))}</p>",
             _png(folder / spec.outputs.png)]
    if entry["problem"]:
        parts.append(f"<p>{html.escape(entry['problem'])}</p>")
    if entry["claims"]:
        parts.append(claims_table(entry["claims"]))
    if entry["protocol"]:
        parts.append(protocol_table(entry["config"], entry["protocol"]))
    settings = [[key, json.dumps(value)] for key, value in entry["config"].items()]
    parts.append(f"<details><summary>settings</summary>{_table(['setting', 'value'], settings)}</details>")
    parts.append(f"<details><summary>table ({html.escape(spec.outputs.csv)})</summary>{_csv_table(folder / spec.outputs.csv)}</details>")
    return "\n".join(parts)


def render(figures: list[dict]) -> str:
    """The page: every claim first, then one section per finished figure, then what is still to run."""
    specs = {spec.name: spec for spec in FIGURES}
    finished = [f for f in figures if f["finished"]]
    claims = [c for f in finished for c in f["claims"]]
    missing = [[f["figure"], f["command"]] for f in figures if not f["finished"]]
    body = ["<h1>mas: the paper's figures, reproduced</h1>",
            "<p>Each claim compares our mean with a 95 % percentile bootstrap interval over runs (model pairs first, "
            "then runs within each, where a figure has several pairs). An above/below claim holds or does not hold "
            "only when the intervals do not overlap. A \"≥\" claim is a non-inferiority test on paired differences: it "
            "holds unless the interval lies below minus its margin. A closeness claim holds when the paired "
            "difference's interval lies within its tolerance. Anything else, or one run, is not established.</p>",
            "<h2>Claims</h2>", claims_table(claims) if claims else "<p>no claims could be judged</p>",
            *(_section(specs[f["figure"]], f) for f in finished)]
    if missing:
        body += ["<h2>Not yet run</h2>", _table(["figure", "command that makes it"], missing)]
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mas report</title><style>{STYLE}</style>"
            f"</head><body>{''.join(body)}</body></html>")
