"""A sweep on a simulated two-node Ray cluster, joined by address: the in-process rows, jobs on both nodes."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mas.experiments.sweep import run_sweep
from mas.runner import JobRunner, open_runner
from ray_sweep import comparable, small_spec

NODE = {"num_cpus": 1, "object_store_memory": 100 * 2**20}


@pytest.fixture(scope="module")
def cluster_runner() -> Iterator[JobRunner]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    try:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        with open_runner(address=cluster.address) as runner:
            yield runner
    finally:
        cluster.shutdown()


def test_jobs_are_spread_over_both_nodes(cluster_runner: JobRunner) -> None:
    def where_it_ran(_: None, job: int) -> str:  # defined here so Ray ships it by value, not by module
        import ray

        time.sleep(0.5)
        return ray.get_runtime_context().get_node_id()

    nodes = dict(cluster_runner.map(where_it_ran, None, list(range(4))))
    assert sorted(nodes) == [0, 1, 2, 3] and len(set(nodes.values())) == 2


def test_cluster_gives_the_in_process_rows(
    cluster_runner: JobRunner, tiny_gru_folders: list[Path], inprocess_sweep: list[dict], tmp_path: Path
) -> None:
    rows = run_sweep(small_spec(tiny_gru_folders), tmp_path / "rows.jsonl", show_progress=False, runner=cluster_runner)
    assert comparable(rows) == comparable(inprocess_sweep)
