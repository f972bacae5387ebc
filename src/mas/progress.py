"""Progress bars and per-job lines for long work, drawn on stderr so `--json` output on stdout stays clean."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_console = Console(stderr=True)


def progress_bar(enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
        transient=True,
        disable=not enabled,
    )


class JobLog:
    """One stderr line per finished job (job, its seconds, its result) with the total so far and the time left.

    The estimate divides the time since this run started by the jobs it finished, so it already
    accounts for jobs running side by side and ignores those finished by an earlier run.
    """

    def __init__(self, total: int, done: int = 0, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = total, done, enabled
        self._finished = 0
        self._start = time.perf_counter()

    def finished(self, job: str, seconds: float, result: str) -> None:
        self.done += 1
        self._finished += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self._start
        left = elapsed / self._finished * (self.total - self.done)
        line = f"[{self.done}/{self.total}] {job}: {result} ({seconds:.1f} s); {elapsed:.0f} s elapsed, about {left:.0f} s left"
        _console.print(line, markup=False, highlight=False, soft_wrap=True)
