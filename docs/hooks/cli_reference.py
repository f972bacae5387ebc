"""MkDocs hook: writes the help of every `mas` command into the CLI reference page.

The page holds the marker below; at build time it is replaced by each command's `--help`, taken
from the Typer app itself, so the reference cannot drift from the commands.
"""

from __future__ import annotations

from typing import Any

import typer

MARKER = "<!-- mas-cli-reference -->"
WIDTH = 100


def _help_sections(command: Any, ctx: Any) -> list[str]:
    """One Markdown section per command, depth first, groups before their subcommands."""
    name = ctx.command_path
    level = "#" * min(2 + name.count(" "), 4)
    sections = [f"{level} `{name}`\n\n```text\n{command.get_help(ctx).rstrip()}\n```\n"]
    if hasattr(command, "list_commands"):  # a group: `mas`, `mas figure`
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = sub.context_class(sub, info_name=sub_name, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH)
            sections += _help_sections(sub, sub_ctx)
    return sections


def cli_reference() -> str:
    """The help of `mas` and of every subcommand, as Markdown."""
    from mas.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="mas", terminal_width=WIDTH, max_content_width=WIDTH)
    return "\n".join(_help_sections(root, ctx))


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Fill the marker on the CLI reference page; other pages pass through unchanged."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
