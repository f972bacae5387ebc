"""The layers are a contract: every import points down the stack named in pyproject.toml, and no
package has an import circle among its modules (import-linter checks both).

import-linter runs in its own process: in this one it would reconfigure logging for the tests after it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_the_declared_layers_and_acyclic_packages_hold() -> None:
    result = lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The check is not vacuous: `mas.io` imports `mas.errors`, so placing errors above io must fail."""
    config = tmp_path / "upside_down.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "mas"\n\n'
        '[[tool.importlinter.contracts]]\nname = "errors above io"\ntype = "layers"\n'
        'containers = ["mas"]\nlayers = ["errors", "io"]\n'
    )
    result = lint(config)
    assert result.returncode == 1 and "1 broken" in result.stdout, result.stdout + result.stderr
