"""The report's verdict rule, and `mas report` on run folders in each figure's format."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.cli import app
from mas.evaluate import Interval
from mas.experiments.outputs import OUTPUTS
from mas.report import Claim, verdict
from mas.report.figures import CLOSE, FIGURES

HIGH = Interval(0.92, 0.90, 0.94, 3)
LOW = Interval(0.35, 0.30, 0.40, 3)
MIDDLE = Interval(0.89, 0.85, 0.91, 3)


@pytest.mark.parametrize(("ours", "other", "relation", "expected"), [
    (HIGH, LOW, "above", "holds"),
    (HIGH, LOW, "below", "does not hold"),
    (LOW, HIGH, "below", "holds"),
    (LOW, HIGH, "above", "does not hold"),
    (HIGH, MIDDLE, "above", "not established"),  # 0.90 <= 0.91: the intervals overlap
    (MIDDLE, HIGH, "below", "not established"),
    (HIGH, 0.5, "above", "holds"),  # a fixed number is a point, not an interval
    (HIGH, 0.93, "above", "not established"),
    (Interval(0.99, 0.99, 0.99, 1), LOW, "above", "not established"),  # one run: no interval
    (HIGH, Interval(0.1, 0.1, 0.1, 1), "above", "not established"),
])
def test_verdict_rule(ours: Interval, other: Interval | float, relation: str, expected: str) -> None:
    assert verdict(ours, other, relation) == expected


def test_claim_judges_its_runs() -> None:
    judged = Claim("2d", "DAS is at least MAS", "DAS", [0.95, 0.97, 0.96], "above", "MAS", [0.5, 0.55, 0.45]).judge()
    assert judged["verdict"] == "holds"
    assert judged["ours"]["n"] == 3 and judged["ours"]["mean"] == pytest.approx(0.96)
    assert judged["ours"]["low"] <= 0.96 <= judged["ours"]["high"]
    assert Claim("3b", "c", "a", [], "above", "b", [0.5, 0.6]).judge()["verdict"] == "not measured"


def _write(folder: Path, name: str, results: dict, png: str, csv: str) -> None:
    folder.mkdir(parents=True)
    (folder / name).write_text(json.dumps(results))
    (folder / png).write_bytes(b"\x89PNG\r\n\x1a\n fake image bytes")
    (folder / csv).write_text("method,size,seed,self\ndas,4,0,0.9\n")


def _runs(root: Path) -> Path:
    """Run folders of figures 2d and 3a in the shape their commands write; the others not run."""
    runs = root / "runs"
    rows_2d = [{"method": m, "size": k, "seed": 0, "pair": f"p{s}", "self": 0.97 + 0.01 * s,
                "cross": 0.96 if k == 4 else 0.3 - 0.01 * s} for s in range(3) for k in (1, 4) for m in ("das", "mas")]
    protocol = [{"setting": "lr", "ours": 0.001, "reference": "1e-3", "why": ""},
                {"setting": "steps", "ours": 3000, "reference": "≤ 20 000", "why": "a ceiling on 2 cores"}]
    config = {"seeds": [0], "model_seeds": [0, 1, 2], "protocol": "paper"}
    _write(runs / "figure_2d", "figure_2d.json", {"rows": rows_2d, "seconds": 12.5, "config": config,
                                                  "protocol": protocol}, "figure_2d.png", "figure_2d.csv")
    rows_3a = [{"method": m, "size": 128, "seed": 0, "pair": f"p{s}", "access": 0.9, "no_access": v + 0.01 * s,
                **({"cl_weight": 1.0} if m != "behavioural_stitch" else {})}
               for s in range(3) for m, v in (("clmas", 0.8), ("latent_stitch", 0.2), ("behavioural_stitch", 0.79))]
    rows_3a += [{"method": "clmas", "size": 128, "seed": 0, "pair": f"p{s}", "access": 0.1, "no_access": 0.0,
                 "cl_weight": 10.0} for s in range(3)]
    results_3a = {"rows": rows_3a, "choices": {"clmas": {"epsilon": 1.0, "k": 128}}, "seconds": 3.0, "config": config}
    _write(runs / "figure_3a", "figure_3a.json", results_3a, "figure_3a.png", "figure_3a.csv")
    return runs


def test_report_page_claims_and_missing_figures(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--runs", str(runs), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    verdicts = {c["claim"]: c["verdict"] for c in summary["claims"]}
    assert verdicts["DAS is at least MAS at k = 1"] == "holds"  # DAS far above: non-inferiority holds
    assert verdicts["DAS is at least MAS at k = 4"] == "holds"  # gaps 0.01..0.03 lie above −0.02
    gap = next(c for c in summary["claims"] if c["claim"].endswith("(here k = 4)"))
    assert gap["other"]["mean"] == CLOSE and gap["verdict"] == "holds"  # gaps 0.01, 0.02, 0.03 per pair
    assert gap["ours"]["mean"] == pytest.approx(0.02) and gap["resampled"] == "model pairs, then runs within each"
    assert verdicts["CLMAS is best in the No Access direction (against latent stitching)"] == "holds"  # ε = 1 only
    assert verdicts["CLMAS is best in the No Access direction (against behavioural stitching)"] == "not established"
    assert summary["not_run"] == ["2ab", "2c", "3b"]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<img" in page and "src=\"runs/" not in page
    assert "mas figure 2ab --out" in page and "12 s" in page and "[0, 1, 2]" in page
    assert "protocol: <b>paper</b>" in page and "a ceiling on 2 cores" in page  # the protocol table
    # A second report into the same folder replaces it; a folder of other files is refused.
    assert CliRunner().invoke(app, ["report", "--runs", str(runs), "--out", str(out)]).exit_code == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    refused = CliRunner().invoke(app, ["report", "--runs", str(runs), "--out", str(other)])
    assert refused.exit_code == 2 and (other / "notes.txt").read_text() == "keep"


def test_claims_read_the_values_of_figures_2ab_2c_and_3b() -> None:
    claims = {spec.name: spec.claims for spec in FIGURES}

    def row(panel: str, site: str, measure: str, value: float, kind: str = "cross") -> dict:
        # MAS: one row per run; CKA/RSA: one row per pair, its values one per subsample.
        values = [value] if measure == "mas_iia" else [value - 0.01, value + 0.01]
        return {"panel": panel, "site": site, "measure": measure, "kind": kind, "value": value, "values": values,
                "arch_a": "gru", "site_b": "layers.1" if panel == "b2" else "hidden"}

    panels = [(p, s) for p in "ab" for s in ("embeddings", "hidden")]
    rows = [row(p, s, m, v + 0.01 * i) for i in range(3) for p, s in panels
            for m, v in (("mas_iia", 0.9 if p == "a" else 0.1), ("cka_linear", 0.8), ("rsa_cosine_spearman", 0.5))]
    rows.append(row("b", "hidden", "mas_iia", 1.0, kind="self"))  # self values are not cross values
    judged = [c.judge() for c in claims["2ab"]({"rows": rows})]
    assert [c["ours"]["n"] for c in judged] == [3, 3, 3, 3] and judged[0]["other"]["n"] == 6
    assert [c["verdict"] for c in judged] == ["holds", "does not hold", "holds", "holds"]
    # Panel b′ adds its own claims, naming the transformer site it compares.
    rows += [row("b2", "hidden", m, v + 0.01 * i) for i in range(3)
             for m, v in (("mas_iia", 0.7), ("cka_linear", 0.8), ("rsa_cosine_spearman", 0.5))]
    judged_b2 = [c.judge() for c in claims["2ab"]({"rows": rows})][4:]
    assert [c["figure"] for c in judged_b2] == ["2b′", "2b′"] and "layers.1" in judged_b2[0]["claim"]
    assert [c["verdict"] for c in judged_b2] == ["holds", "does not hold"]

    names = ["toxic-0", "toxic-1", "nontoxic-0"]
    matrix = [[1.0, 0.8, 0.2], [0.7, 1.0, 0.3], [0.25, 0.35, 1.0]]
    (toxic,) = claims["2c"]({"models": names, "token_matrix": matrix})
    assert sorted(toxic.ours) == [0.7, 0.8] and sorted(toxic.other) == [0.2, 0.25, 0.3, 0.35]
    pairwise = [[1.0, 0.9, 0.1], [0.85, 1.0, 0.15], [0.1, 0.2, 1.0]]
    joint, paired = claims["2c"]({"models": names, "token_matrix": matrix, "pairwise_token_matrix": pairwise})
    assert sorted(joint.ours) == [0.7, 0.8] and "pairwise" in paired.text
    assert sorted(paired.ours) == [0.85, 0.9] and sorted(paired.other) == [0.1, 0.1, 0.15, 0.2]
    # With the untrained-rotation control, a claim on trained − control over the same cross-model directions.
    control = [[0.9, 0.8, 0.2], [0.7, 0.9, 0.3], [0.25, 0.35, 0.9]]
    toxic, gain = claims["2c"]({"models": names, "token_matrix": matrix, "control_token_matrix": control})
    assert "untrained" in gain.text and gain.ours == [0.0] * 6 and gain.other == 0.0
    assert gain.judge()["verdict"] == "not established"  # no gain on any direction: nothing above 0
    learned = [[v + 0.1 * (s != t) for t, v in enumerate(row)] for s, row in enumerate(control)]
    _, gain = claims["2c"]({"models": names, "token_matrix": learned, "control_token_matrix": control})
    assert gain.ours == pytest.approx([0.1] * 6) and gain.judge()["verdict"] == "holds"

    rows_3b = [{"family": "rounding", "variable": "count", "seed": 0, "das_family": 0.99, "ref->family": 0.6}]
    (bound,) = claims["3b"]({"rows": rows_3b})
    assert bound.judge()["verdict"] == "not established"  # one run

    def rows_of(gap: float) -> list[dict]:
        """Two model pairs × two seeds of Rounding at DAS − transfer ≈ `gap`, and a supplementary bar."""
        return [{"family": family, "variable": variable, "supplementary": extra, "pair": f"mo-s{p}|x-s{p}",
                 "seed": seed, "das_family": 0.9, "ref->family": 0.9 - gap - 0.005 * (p + seed)}
                for family, variable, extra in (("rounding", "count+phase", False),
                                                ("same_object", "remaining.remaining", True))
                for p in range(2) for seed in range(2)]

    # Non-inferiority on paired gaps: a transfer equal to DAS holds (strict "above" never could); a transfer
    # above DAS by more than the margin does not; the supplementary bar is not judged.
    for gap, expected in ((0.0, "holds"), (0.3, "holds"), (-0.1, "does not hold")):
        judged = [c.judge() for c in claims["3b"]({"rows": rows_of(gap)})]
        assert [(c["ours"]["n"], c["relation"], c["verdict"]) for c in judged] == [(4, "at_least", expected)]
        assert judged[0]["resampled"] == "model pairs, then runs within each"


def test_each_figure_names_its_files_once_for_the_experiment_and_the_report() -> None:
    assert [spec.name for spec in FIGURES] == list(OUTPUTS)
    for spec in FIGURES:
        assert spec.outputs is OUTPUTS[spec.name] and spec.command == f"mas figure {spec.name}"
        assert spec.outputs.png.endswith(".png") and spec.outputs.csv.endswith(".csv")
        assert spec.outputs.results.endswith(".json")
