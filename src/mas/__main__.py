"""`python -m mas`: the same as the `mas` command."""

from mas.cli import app

app(prog_name="mas")
