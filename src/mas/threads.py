"""How many threads torch may use, chosen per kind of work.

Measured by `benchmarks/bench_threads.py` on 2 cores (seconds per step, 1 / 2 threads): a MAS
step between width-128 GRUs took 0.091 / 0.067 s idle but 0.093 / 0.231 s beside a process busy on
one core; a SmolLM2-135M forward + backward took 2.81 / 1.57 s idle and 3.17 / 4.96 s busy. So task
models default to one thread (a little slower idle, never 2.5× slower beside other work), and
language models to the cores not already busy: the usable cores less the 1-minute load average,
at least one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch

from mas.errors import MasError

Work = Literal["task", "lm"]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def free_cores() -> int:
    """Usable cores not already kept busy by other work (by the 1-minute load average), at least one."""
    return max(1, min(usable_cores(), usable_cores() - round(os.getloadavg()[0])))


def default_threads(work: Work) -> int:
    return 1 if work == "task" else free_cores()


def set_threads(threads: int | None, work: Work = "task") -> int:
    """Set torch's intra- and inter-op threads (the default of `work` when None); returns the count."""
    count = default_threads(work) if threads is None else threads
    if count < 1:
        raise MasError(f"--threads must be at least 1, not {count}")
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(count)
    except RuntimeError:
        pass  # torch allows this once, before any inter-op work; later calls keep the first setting
    return count


@contextmanager
def using_threads(threads: int | None, work: Work = "task") -> Iterator[int]:
    """`set_threads` for the duration of a block, restoring the previous intra-op count after it."""
    previous = torch.get_num_threads()
    try:
        yield set_threads(threads, work)
    finally:
        torch.set_num_threads(previous)
