"""One way to run many independent jobs: in this process, on a local Ray, or on a Ray cluster.

A figure or a sweep is a list of jobs over shared read-only inputs (models, pairs). The driver hands
them to a runner and writes each result as it comes back, so output files are written only by the
driver, atomically and once per finished job, whatever ran the job. On Ray the shared inputs travel
once through the object store (no shared file system needed), each job asks for the CPUs (and GPUs)
it needs, and a job whose worker dies is run again.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from mas.errors import MasError
from mas.io import save_result, saved_result
from mas.progress import JobLog

S = TypeVar("S")
J = TypeVar("J")
R = TypeVar("R")

# Enough for the models and pairs of a sweep; Ray's default (30% of RAM) is far more than jobs need.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
# Attempts after a worker dies mid-job (a job that raises is never retried).
JOB_RETRIES = 3


@dataclass(frozen=True)
class Resources:
    """What one job needs, so Ray can place it; a job's torch uses `cpus` threads."""

    cpus: int = 1
    gpus: float = 0.0


class JobRunner:
    """Runs jobs one after another in this process (the default)."""

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J], resources: Resources = Resources()
            ) -> Iterator[tuple[int, R]]:
        """Yield `(index, fn(shared, jobs[index]))` as each job finishes, in any order."""
        for index, job in enumerate(jobs):
            yield index, fn(shared, job)


@dataclass(frozen=True)
class Part:
    """One job whose result is kept at `path` with the inputs (`key`) that produced it."""

    path: Path
    key: Any
    job: Any
    label: str


def cached_map(runner: JobRunner, fn: Callable[[Any, Any], dict], shared: Any, parts: Sequence[Part],
               describe: Callable[[dict], str], resources: Resources = Resources(), show_progress: bool = True
               ) -> list[dict]:
    """`fn(shared, part.job)` for every part, in order: saved results are reused, the rest run on
    `runner` and are saved as each finishes, so an interrupted run redoes only unfinished parts."""
    results = [saved["result"] if (saved := saved_result(p.path, p.key)) else None for p in parts]
    todo = [i for i, result in enumerate(results) if result is None]
    log = JobLog(len(parts), len(parts) - len(todo), show_progress)
    for index, result in runner.map(fn, shared, [parts[i].job for i in todo], resources):
        part = parts[todo[index]]
        save_result(part.path, part.key, result)
        results[todo[index]] = result
        log.finished(part.label, result.get("seconds", 0.0), describe(result))
    return results  # type: ignore[return-value]


# The shared inputs a worker process has already read, by object id: a sweep's models, pairs and
# recorded states are read from the object store once per worker, not once per job.
_WORKER_SHARED: dict[str, Any] = {}


def _run_on_worker(fn: Callable[[Any, Any], Any], shared_ref: list[Any], job: Any, threads: int) -> Any:
    import ray

    torch.set_num_threads(threads)
    (ref,) = shared_ref  # wrapped in a list so Ray hands over the reference, not the object
    key = ref.hex()
    if key not in _WORKER_SHARED:
        _WORKER_SHARED.clear()  # one sweep's inputs at a time
        _WORKER_SHARED[key] = ray.get(ref)
    return fn(_WORKER_SHARED[key], job)


class RayRunner(JobRunner):
    """Runs jobs as Ray tasks, at most as many at once as the cluster has CPUs for."""

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J], resources: Resources = Resources()
            ) -> Iterator[tuple[int, R]]:
        import ray
        from ray.exceptions import RayTaskError

        task = ray.remote(_run_on_worker).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=JOB_RETRIES, name="mas-job")
        shared_ref = ray.put(shared)
        pending = {task.remote(fn, [shared_ref], job, resources.cpus): index for index, job in enumerate(jobs)}
        try:
            while pending:
                [done], _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(done)
                try:
                    yield index, ray.get(done)
                except RayTaskError as err:  # a job's own MasError stays one line for the CLI
                    if isinstance(err.cause, MasError):
                        raise err.cause from None
                    raise
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def _ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing should reach for the network
    try:
        import ray
    except ImportError:
        raise MasError("--workers and --ray-address need Ray: pip install 'model-alignment-search[ray]'") from None
    return ray


RAY_CONNECT_SECONDS = 15.0  # how long a --ray-address may take to answer before mas gives up


def check_reachable(address: str, seconds: float = RAY_CONNECT_SECONDS) -> None:
    """Refuse a Ray address (HOST:PORT or ray://HOST:PORT) that nothing answers at within `seconds`:
    Ray itself would wait for minutes. Other forms ("auto") are left to Ray."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else err.strerror or str(err)
        raise MasError(f"cannot reach the Ray cluster at {address} within {seconds:g} s ({reason})") from None


@contextmanager
def open_runner(workers: int | None = None, address: str | None = None) -> Iterator[JobRunner]:
    """The in-process runner, a local Ray with `workers` CPUs, or the Ray cluster at `address`.

    A Ray this call starts (or joins) is shut down (or left) on exit; one already running in this
    process (e.g. started by the caller) is used as it is and left running.
    """
    if workers is None and not address:
        yield JobRunner()
        return
    if workers is not None and address:
        raise MasError("--workers starts a local Ray and --ray-address joins a running one: give one of them")
    if workers is not None and workers < 1:
        raise MasError(f"--workers must be at least 1, not {workers}")
    if address:
        check_reachable(address)
    ray = _ray()
    if ray.is_initialized():
        yield RayRunner()
        return
    settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **settings)
        else:  # "local": never join the cluster that RAY_ADDRESS may name
            ray.init(address="local", num_cpus=workers, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **settings)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise MasError(f"cannot start or join Ray ({address or 'local'}): {err}") from None
    try:
        yield RayRunner()
    finally:
        ray.shutdown()


__all__ = ["JobRunner", "Part", "RayRunner", "Resources", "cached_map", "open_runner"]
