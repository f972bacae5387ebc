"""Progress that shows up in logs: plain lines off a terminal, at least every tenth and every 30 s."""

from __future__ import annotations

import re

from mas.progress import LINE_SECONDS, LineProgress, progress_bar, quiet


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_tenth_with_step_status_rate_and_time_left() -> None:
    lines: list[str] = []
    clock = Clock()
    with LineProgress(lines.append, clock) as bar:
        job = bar.add_task("aligning", total=200, status="")
        for step in range(1, 201):
            clock.now += 0.5
            bar.update(job, advance=1, status=f"loss {1 / step:.3f}")
    steps = [int(re.match(r"aligning: step (\d+)/200", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert steps == list(range(20, 201, 20))
    assert lines[0] == "aligning: step 20/200, loss 0.050, 2.00 steps/s, 0:00:10 elapsed, 0:01:30 left"


def test_slow_work_prints_at_least_every_30_seconds() -> None:
    lines: list[str] = []
    clock = Clock()
    with LineProgress(lines.append, clock) as bar:
        job = bar.add_task("fine-tuning", total=1000, completed=100, status="")
        for _ in range(50):  # 50 steps of 3 s: 150 s, less than a tenth of the work
            clock.now += 3
            bar.advance(job)
    assert len(lines) == 150 // LINE_SECONDS + 1  # every 30 s, and a last line when the work ends
    assert lines[0].startswith("fine-tuning: step 110/1000, 0.33 steps/s")


def run_work(bar) -> None:  # type: ignore[no-untyped-def]
    with bar:
        job = bar.add_task("work", total=10, status="")
        for _ in range(10):
            bar.advance(job)


def test_quiet_and_disabled_progress_print_nothing(capsys) -> None:  # type: ignore[no-untyped-def]
    run_work(progress_bar(enabled=False))
    with quiet():
        run_work(progress_bar())
    assert capsys.readouterr().err == ""
    run_work(progress_bar())  # stderr is not a terminal under pytest: plain lines
    assert capsys.readouterr().err.count("work: step") == 10
