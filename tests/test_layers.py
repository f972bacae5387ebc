"""The layers are a contract: every import points down the stack named in pyproject.toml, and no
package has an import circle among its modules (import-linter checks both)."""

from __future__ import annotations

from pathlib import Path

from importlinter import cli as lint

ROOT = Path(__file__).resolve().parents[1]


def test_the_declared_layers_and_acyclic_packages_hold() -> None:
    assert lint.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The check is not vacuous: `mas.io` imports `mas.errors`, so placing errors above io must fail."""
    config = tmp_path / "upside_down.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "mas"\n\n'
        '[[tool.importlinter.contracts]]\nname = "errors above io"\ntype = "layers"\n'
        'containers = ["mas"]\nlayers = ["errors", "io"]\n'
    )
    assert lint.lint_imports(config_filename=str(config), no_cache=True, no_logo=True) == 1
