"""How many threads torch may use, chosen per kind of work.

Small task models (GRUs and 2-layer transformers of width 128) run batches too small for torch's
thread pool to pay off, and a pool sized to every core collapses when another process wants one:
they default to one thread. Language models have matrices large enough to use every core this
process may run on. `benchmarks/bench_threads.py` measures both kinds, idle and beside a busy
process, and is where these defaults come from.
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


def default_threads(work: Work) -> int:
    return 1 if work == "task" else usable_cores()


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
