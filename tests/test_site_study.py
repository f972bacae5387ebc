"""`mas site-study`: DAS per site, pair scheme and k, with the choice made on validation IIA."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mas.experiments.site_study as site_study
from mas.cli import app


def test_site_study_finds_the_count_in_the_hidden_state_not_in_one_embedding(
    tiny_gru_folders: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "study"
    args = ["site-study", *map(str, tiny_gru_folders), "--sites", "embed,hidden", "--ks", "8", "--steps", "150",
            "--batch-size", "32", "--train-pairs", "512", "--validation-pairs", "128", "--test-pairs", "128",
            "--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["rows"]) == 2 * 2 * 2  # models × sites × schemes
    iia = {(s["site"], s["mode"]): s["test_iia"] for s in summary["summary"]}
    # One swapped token embedding names a token, not a count; every embedding up to t, or the GRU's state, does.
    assert iia[("embed", "single")] < 0.3 and min(iia[("embed", "stepwise")], iia[("hidden", "stepwise")]) > 0.75, iia
    assert summary["chosen"]["validation_iia"] == max(s["validation_iia"] for s in summary["summary"])
    assert summary["chosen"]["site"] != "embed" or summary["chosen"]["mode"] == "stepwise"
    assert (out / "summary.csv").read_text().startswith("site,mode,k,validation_iia,test_iia,n")

    # Finished DAS runs are reused; bad input is one line and writes nothing.
    monkeypatch.setattr(site_study, "das_score", lambda *a: pytest.fail("a finished DAS run was run again"))
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and json.loads(again.stdout.strip().splitlines()[-1])["summary"] == summary["summary"]
    for bad, text in ((["--sites", "layers.0"], "unknown site"), (["--ks", "4096"], "wider"),
                      (["--modes", "nope"], "pair scheme"), (["--variable", "colour"], "no variable")):
        refused = CliRunner().invoke(app, [*args[:-3], *bad, "--out", str(tmp_path / "bad")])
        assert refused.exit_code == 2 and text in refused.output, refused.output
        assert not (tmp_path / "bad").exists()
