"""The tutorial 'Models and data from other libraries' runs as written, and its four DAS snippets agree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorials" / "other-libraries.md"
# The causalab snippet tokenizes with a `tokenizer` of the reader's; this one knows its words.
TOKENIZER = """
from tiny_lm import word_tokenizer
tokenizer = word_tokenizer(["<pad>", "<eos>", "<unk>", "The", "capital", "of", "France", "is", "Italy", "Rome"])
"""


def test_every_snippet_runs_and_das_scores_alike_in_each_library(tmp_path: Path) -> None:
    for module in ("transformer_lens", "nnsight", "pyvene", "datasets"):
        pytest.importorskip(module)
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.DOTALL)
    script = tmp_path / "tutorial.py"
    script.write_text(TOKENIZER + "\n".join(blocks))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    ours = [float(x) for x in re.findall(r"Score\(trial=([0-9.]+)", done.stdout)]
    theirs = [float(x) for x in re.findall(r"tensor\(([0-9.]+)\)", done.stdout)]
    assert len(ours) == 3 and len(theirs) == 1, done.stdout
    assert ours[0] == ours[1] == ours[2] and min(ours + theirs) >= 0.75, done.stdout
