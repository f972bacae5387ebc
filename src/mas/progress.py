"""Progress of long work on stderr, so `--json` output on stdout stays clean.

On a terminal it is a rich bar. Anywhere else (a log file, a batch job, a remote shell) a bar
prints nothing, so the same calls print plain lines instead: one at least every 30 s and one per
tenth of the work, each with the step, the status (e.g. the loss), the rate and the time left.
`JobLog` prints one line per finished job of a batch of jobs. `quiet` silences all of them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

LINE_SECONDS = 30.0  # longest silence between two plain progress lines
LINE_PARTS = 10  # and a line each time another tenth of the work is done

_console = Console(stderr=True)
_quiet: ContextVar[bool] = ContextVar("mas_quiet", default=False)


def is_quiet() -> bool:
    return _quiet.get()


@contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence progress (bars, plain lines, and `mas.commands._shared.log_line`) for the duration of a block."""
    token = _quiet.set(enabled)
    try:
        yield
    finally:
        _quiet.reset(token)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class _Job:
    description: str
    total: float | None
    completed: float
    fields: dict[str, Any]
    started: float
    start_completed: float
    last_line: float
    next_part: int = 1
    done: bool = field(default=False)

    def part(self) -> int:
        """How many whole tenths of the work are done."""
        return int(self.completed * LINE_PARTS // self.total) if self.total else 0


class LineProgress:
    """The calls of rich's `Progress` that `mas` uses, printed as plain lines (for non-terminals)."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._write = write
        self._clock = clock
        self._jobs: list[_Job] = []

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            for job in self._jobs:
                if not job.done:
                    self._line(job)

    def add_task(self, description: str, total: float | None = 100.0, completed: float = 0, **fields: Any) -> int:
        now = self._clock()
        job = _Job(description, total, completed, fields, now, completed, now)
        job.next_part = job.part() + 1
        self._jobs.append(job)
        return len(self._jobs) - 1

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, *, completed: float | None = None, advance: float | None = None,
               total: float | None = None, **fields: Any) -> None:
        job = self._jobs[task_id]
        if total is not None:
            job.total = total
        if completed is not None:
            job.completed = completed
        if advance is not None:
            job.completed += advance
        job.fields.update({k: v for k, v in fields.items() if k not in ("description", "refresh", "visible")})
        if (job.total and job.part() >= job.next_part) or self._clock() - job.last_line >= LINE_SECONDS:
            self._line(job)
            job.next_part = job.part() + 1

    def _line(self, job: _Job) -> None:
        now = self._clock()
        job.last_line = now
        elapsed = now - job.started
        done = job.completed - job.start_completed
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{job.description}: step {job.completed:g}" + (f"/{job.total:g}" if job.total else "")]
        parts += [str(v) for v in job.fields.values() if v not in ("", None)]
        parts.append(f"{rate:.2f} steps/s")
        parts.append(f"{_duration(elapsed)} elapsed")
        if job.total and rate > 0:
            parts.append(f"{_duration(max(job.total - job.completed, 0) / rate)} left")
        job.done = bool(job.total) and job.completed >= job.total
        self._write(", ".join(parts))


def _plain_line(text: str) -> None:
    _console.print(text, highlight=False, soft_wrap=True, markup=False)


def progress_bar(enabled: bool = True) -> Progress | LineProgress:
    """A bar on a terminal, plain lines elsewhere, nothing when disabled or quiet."""
    show = enabled and not is_quiet()
    if show and not sys.stderr.isatty():
        return LineProgress(_plain_line)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
        transient=True,
        disable=not show,
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
        if not self.enabled or is_quiet():
            return
        elapsed = time.perf_counter() - self._start
        left = elapsed / self._finished * (self.total - self.done)
        line = f"[{self.done}/{self.total}] {job}: {result} ({seconds:.1f} s); {elapsed:.0f} s elapsed, about {left:.0f} s left"
        _console.print(line, markup=False, highlight=False, soft_wrap=True)
