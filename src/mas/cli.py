"""The `mas` command-line app, assembled: every command lives in `mas.commands`, one module each."""

from mas.commands import app

__all__ = ["app"]
