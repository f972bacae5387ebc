"""The README as a new user meets it: short, its pictures and links present, its commands runnable.

The quick commands of its command-line block are run verbatim, in order, in an empty folder that
holds only the two models `make demo` would have trained (tiny stand-ins here); the slow ones
(training, the demo, the figures) are checked to parse. The Python quickstart is run with its sizes
shrunk, which checks every call it makes.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent

# First words of each `mas` command in the README: run verbatim by this test, or too slow to (checked to parse).
QUICK = ("mas models", "mas align", "mas evaluate", "mas export", "mas --help", "mas --version")
SLOW = ("mas demo", "mas train", "mas figure")


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks in `language`."""
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def mas_lines() -> list[str]:
    """Every `mas ...` command line of the README's shell blocks, as written (comments included)."""
    lines = [line for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("mas ")]


def words(line: str) -> list[str]:
    """A command line split as the shell splits it, its comment dropped."""
    return shlex.split(line, comments=True)


def test_readme_is_short_with_its_pictures_and_links() -> None:
    assert len(README.splitlines()) <= 150
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert len(images) == 2, images
    for image in images:
        path = ROOT / image
        assert path.is_file() and path.stat().st_size < 200_000, image
    links = [link for link in re.findall(r"\]\(([^)]+)\)", README) if "://" not in link]
    assert links, "the README links to the docs"
    for link in links:
        assert (ROOT / link.split("#")[0]).exists(), link


def test_quickstart_and_cli_blocks_are_short() -> None:
    (quickstart,) = blocks("python")
    assert len(quickstart.strip().splitlines()) <= 15
    cli = [block for block in blocks("bash") if "mas align" in block]
    assert len(cli) == 1 and len(cli[0].strip().splitlines()) <= 10


def test_commands_are_pasteable() -> None:
    """No placeholders to fill in, and every option named in a command exists."""
    lines = mas_lines()
    assert lines
    runner = CliRunner()
    for line in lines:
        command = " ".join(words(line))
        assert not re.search(r"\b(RUN|MODEL|FILE|TABLE|PATH|OUT|HEAD_IP)\b", command), line
        assert command.startswith(QUICK + SLOW), f"classify {line!r} as quick or slow in this test"
        result = runner.invoke(app, [*words(line)[1:], "--help"])
        assert result.exit_code == 0, (line, result.output)


def test_quick_commands_run_verbatim_in_order(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    """In an empty folder holding only the demo's two models: each quick command succeeds, none
    collides with an earlier one, and nothing is written outside runs/."""
    for seed, folder in enumerate(tiny_gru_folders):
        shutil.copytree(folder, tmp_path / "runs" / "models" / f"multi_object-gru-s{seed}")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    quick = [line for line in mas_lines() if line.startswith(QUICK)]
    assert any(line.startswith("mas align") for line in quick)
    for line in quick:
        done = subprocess.run(["bash", "-c", line], check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


@pytest.mark.parametrize("marker", ["steps=300", "((2048, 0), (500, 1))"])
def test_quickstart_sizes_are_where_this_test_shrinks_them(marker: str) -> None:
    assert marker in blocks("python")[0]


def test_quickstart_runs(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    """The quickstart as written, with 3 steps and a few pairs instead of its sizes."""
    code = blocks("python")[0].replace("steps=300", "steps=3").replace("((2048, 0), (500, 1))", "((64, 0), (32, 1))")
    for seed, folder in enumerate(tiny_gru_folders):
        shutil.copytree(folder, tmp_path / "runs" / "models" / f"multi_object-gru-s{seed}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    matrix = ast.literal_eval(done.stdout.strip().splitlines()[-1])  # the printed 2 × 2 list of IIA values
    assert len(matrix) == 2 and all(len(row) == 2 and all(0.0 <= v <= 1.0 for v in row) for row in matrix)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
