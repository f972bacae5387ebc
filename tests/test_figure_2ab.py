"""`mas similarity` and `mas figure 2ab` end to end on tiny models, and their one-line errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mas.experiments.figure_2ab as figure_2ab
from mas.cli import app
from mas.evaluate import bootstrap_interval
from mas.experiments.figure_2ab import MEASURES, SITES
from mas.io import read_json

runner = CliRunner()
SMALL = ["--repeats", "2", "--rows", "200"]


def run(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def last_json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_one_line_error(result, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    # Progress lines may precede it; the error itself is exactly one line, the last one.
    errors = [line for line in lines if "error:" in line]
    assert errors == [lines[-1]] and text in lines[-1] and "Traceback" not in result.output, result.output


def test_similarity_prints_a_table_and_json(tiny_gru_folders: list[Path]) -> None:
    result = run("similarity", *tiny_gru_folders, "--measures", "cka_linear,rsa_cosine_spearman", *SMALL, "--json")
    summary = last_json(result)
    assert "cka_linear" in result.stdout and "±" in result.stdout
    assert set(summary["measures"]) == {"cka_linear", "rsa_cosine_spearman"}
    for stats in summary["measures"].values():
        assert len(stats["values"]) == 2 and 0.0 < stats["mean"] < 1.0
    same = [tiny_gru_folders[0]] * 2
    itself = last_json(run("similarity", *same, "--site", "hidden,hidden", *SMALL, "--json"))
    assert len(itself["measures"]) > 2
    assert itself["measures"]["cka_linear"]["mean"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--site", "layers.0"], "unknown site"),
        (["--measures", "cka_nope"], "cka_nope"),
        (["--rows", "100000"], "rows"),
        (["--site", "hidden,embed,hidden"], "one site or two"),
    ],
)
def test_similarity_bad_input_is_one_line(tiny_gru_folders: list[Path], args: list[str], text: str) -> None:
    assert_one_line_error(run("similarity", *tiny_gru_folders, *args), text)


def test_similarity_missing_model_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run("similarity", tmp_path / "a", tmp_path / "b"), "missing model folder")


def test_figure_2ab_writes_png_table_and_json(figure_2ab_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "fig"
    args = ["figure", "2ab", "--models-dir", figure_2ab_models, "--out", out, "--transformer-seeds", "0", "--seeds", "0,1",
            "--steps", "2", "--train-pairs", "64", "--test-pairs", "32", "--k-hidden", "8", "--k-embed", "8",
            "--b2-site", "layers.1", "--b2-k", "4", *SMALL, "--json"]
    summary = last_json(run(*args))["summary"]
    panels = {"a": SITES, "b": SITES, "b2": ["hidden"]}
    assert {(e["panel"], e["site"], e["measure"]) for e in summary} == {
        (p, s, m) for p, sites in panels.items() for s in sites for m in MEASURES
    }
    # One GRU pair in panel a, each of the 2 GRUs with the (cycled) transformer in b and b′; 2 seeds.
    pairs = {"a": 1, "b": 2, "b2": 2}
    for entry in summary:
        cross = entry["cross"]
        assert 0.0 <= cross["low"] <= cross["mean"] <= cross["high"] <= 1.0 + 1e-9 and entry["self_gru"] is not None
        assert cross["n"] == pairs[entry["panel"]] * (2 if entry["measure"] == "mas_iia" else int(SMALL[1]))
        assert (entry["self_transformer"] is None) == (entry["panel"] == "a")
        if entry["measure"] != "mas_iia":
            assert entry["self_gru"]["mean"] == pytest.approx(1.0)
    assert {p.name for p in out.iterdir()} == {"figure_2ab.png", "table.csv", "results.json", "mas", "mas-run.json"}
    runs = sorted((out / "mas").iterdir())
    assert len(runs) == 2 * (pairs["a"] * 2 + pairs["b"] * 2 + pairs["b2"])
    # One swapped embedding names a token, not a count: the embeddings are aligned stepwise.
    jobs = {tuple(run.name.split("-")[:2]): read_json(run / "results.json")["job"] for run in runs}
    assert {place: job["mode"] for place, job in jobs.items()} == {
        ("a", "embeddings"): "stepwise", ("a", "hidden"): "single", ("b", "embeddings"): "stepwise",
        ("b", "hidden"): "single", ("b2", "hidden"): "stepwise"}
    assert jobs[("b2", "hidden")]["sites"] == ["hidden", "layers.1"] and jobs[("b", "hidden")]["sites"][1] == "layers.0"
    saved = read_json(out / "results.json")
    assert saved["summary"] == summary
    # Each MAS bar is the bootstrap interval of one value per run (pair × seed), each run its own seed.
    mas_rows = [r for r in saved["rows"] if (r["panel"], r["site"], r["measure"], r["kind"]) == ("b", "hidden", "mas_iia", "cross")]
    assert sorted(r["seed"] for r in mas_rows) == [0, 0, 1, 1]
    bar = next(e for e in summary if (e["panel"], e["site"], e["measure"]) == ("b", "hidden", "mas_iia"))
    assert bar["cross"] == bootstrap_interval([r["value"] for r in mas_rows]).as_dict()
    lines = (out / "table.csv").read_text().splitlines()
    assert lines[0].startswith("panel,site,model_a") and "seed" in lines[0] and len(lines) == 1 + len(saved["rows"])

    # A second run (say, after a crash) reuses every finished MAS run and similarity.
    monkeypatch.setattr(figure_2ab, "run_alignment", lambda *a: pytest.fail("a finished MAS run was run again"))
    monkeypatch.setattr(figure_2ab, "model_activations", lambda *a: pytest.fail("a finished similarity was run again"))
    assert last_json(run(*args))["summary"] == summary
    assert len(list((out / "mas").iterdir())) == len(runs)


def test_failed_figure_run_leaves_no_output(figure_2ab_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig"
    assert_one_line_error(run("figure", "2ab", "--models-dir", figure_2ab_models, "--out", out, "--rows", "1000000"), "rows")
    assert not out.exists() and list(tmp_path.glob(".fig*")) == []
    # It failed at the first comparison's CKA, before training the missing second transformer.
    assert not (figure_2ab_models / "multi_object-transformer-s1").exists()
