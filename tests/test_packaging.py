"""What a lab needs to depend on `mas`: a distribution that builds and installs cleanly into a new
environment, a version the command prints, one-line errors for a missing optional extra, output
that survives a pipe, and a plain word when training misses its target."""

from __future__ import annotations

import importlib.metadata
import json
import os
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mas
from mas.cli import app
from mas.commands._shared import print_matrix

ROOT = Path(__file__).resolve().parents[1]
DIST = "model-alignment-search"
runner = CliRunner()


def test_version_is_printed_and_matches_the_metadata() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.split()[:2] == ["mas", mas.__version__]
    assert importlib.metadata.version(DIST) == mas.__version__


def test_metadata_names_licence_authors_and_urls() -> None:
    meta = importlib.metadata.metadata(DIST)
    assert meta["Name"] == DIST
    assert meta["License-Expression"] == "MIT"
    assert "The mas developers" in (meta["Author"] or "") + (meta["Author-email"] or "")
    assert any(url.startswith("Source, https://") for url in meta.get_all("Project-URL") or [])
    assert (Path(mas.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize(("module", "extra", "args"), [
    ("transformers", "lm", ["lm-align", "model-a", "model-b"]),
    ("transformers", "lm", ["finetune", "model-a", "--data", "insults", "--out", "unused"]),
])
def test_missing_extra_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, module: str, extra: str,
                                             args: list[str]) -> None:
    """As if the extra were not installed: its module cannot be imported, nor anything importing it."""
    monkeypatch.setitem(sys.modules, module, None)  # `import transformers` now raises ModuleNotFoundError
    for name in [n for n in sys.modules if n.startswith(("mas.adapters.hf", "mas.lm.finetune", "mas.experiments.lm"))]:
        monkeypatch.delitem(sys.modules, name)
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert f"[{extra}]" in lines[0] and f"pip install '{DIST}[{extra}]'" in lines[0], lines
    assert json.loads(lines[-1])["error"].startswith("this command needs the optional extra")


def test_tables_keep_long_names_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    """stdout that is not a terminal (a file, a pipe) gets whole model names, never cut ones."""
    names = [f"runs/models/a-rather-long-model-folder-name-seed-{s}" for s in range(4)]
    print_matrix("held-out IIA", names, [[0.5] * 4 for _ in names])
    out = capsys.readouterr().out
    assert all(name in out for name in names), out
    assert "…" not in out


def test_train_says_plainly_when_the_target_is_missed(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--task", "modulo", "--width", "16", "--max-steps", "2",
                                 "--out", str(tmp_path / "m"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["target_reached"] is False
    assert "target 0.99 was NOT reached" in result.stdout


def _build(out: Path) -> tuple[Path, Path]:
    """`python -m build` into `out`: the sdist and the wheel."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True, env=env,
                   capture_output=True, timeout=600)
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return sdist, wheel


def test_wheel_builds_and_installs_into_a_new_environment(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    """The sdist and wheel carry what they must; the wheel installs into a new virtual environment that
    sees this environment's packages (torch and the rest) but not the source tree, and runs there."""
    sdist, wheel = _build(tmp_path / "dist")
    assert wheel.name == f"model_alignment_search-{mas.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("mas/__init__.py", "mas/py.typed", "mas/lm/examples/capitals.jsonl", "mas/cli.py"):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "docs/", "notebooks/")) for n in names)
    with tarfile.open(sdist) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert {"LICENSE", "README.md", "pyproject.toml", "src/mas/py.typed"} <= members

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # The existing packages (torch first of all), added as plain paths: their own .pth files, and with
    # them this checkout's editable install, are not read.
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "existing_packages.pth").write_text("\n".join(shared) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    where = run(str(python), "-c", "import mas; print(mas.__file__)")
    assert where.returncode == 0 and where.stdout.strip().startswith(str(venv)), where
    # Every dependency the wheel declares (extras aside) is met by what the new environment sees.
    check = run(str(python), "-c", (
        "import importlib.metadata as m; from packaging.requirements import Requirement\n"
        f"reqs = [Requirement(r) for r in m.requires('{DIST}') or []]\n"
        "bad = [str(r) for r in reqs if not r.marker and m.version(r.name) not in r.specifier]\n"
        "print(len(reqs)); assert not bad, bad"))
    assert check.returncode == 0, check.stderr
    mas_bin = str(venv / "bin" / "mas")
    version = run(mas_bin, "--version")
    assert version.returncode == 0 and version.stdout.split()[:2] == ["mas", mas.__version__], version
    assert run(mas_bin, "--help").returncode == 0
    out = tmp_path / "align-run"
    aligned = run(mas_bin, "align", *map(str, tiny_gru_folders), "--k", "4", "--steps", "5", "--pairs", "256",
                  "--test-pairs", "64", "--out", str(out), "--json")
    assert aligned.returncode == 0, aligned.stderr
    assert set(json.loads(aligned.stdout.strip().splitlines()[-1])["iia"]) == {"0->0", "0->1", "1->0", "1->1"}
    assert (out / "results.json").is_file()


def test_citation_cites_the_paper_and_this_version() -> None:
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert citation["version"] == mas.__version__ and citation["license"] == "MIT"
    paper = citation["preferred-citation"]
    assert paper["title"] == "Model Alignment Search" and paper["authors"][0]["family-names"] == "Grant"
    assert f"## [{mas.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
