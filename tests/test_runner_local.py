"""Sweeps on a local Ray with two workers: the in-process rows, a killed worker's job retried and written once."""

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.cli import app
from mas.experiments import figure_3b
from mas.experiments.figure_2ab import Figure2abConfig, run_figure_2ab
from mas.experiments.figure_3b import Figure3bConfig
from mas.experiments.sweep import read_table, run_sweep
from mas.runner import JobRunner, cached_map, open_runner
from ray_sweep import comparable, small_spec


@pytest.fixture(scope="module")
def ray_runner() -> Iterator[JobRunner]:
    with open_runner(workers=2) as runner:
        yield runner


def test_two_workers_give_the_in_process_rows(
    ray_runner: JobRunner, tiny_gru_folders: list[Path], inprocess_sweep: list[dict], tmp_path: Path
) -> None:
    rows = run_sweep(small_spec(tiny_gru_folders), tmp_path / "rows.jsonl", show_progress=False, runner=ray_runner)
    assert comparable(rows) == comparable(inprocess_sweep)
    full = {r["method"]: r for r in rows if r["size"] in (8, 48)}  # wide enough to carry the count
    assert full["das"]["self"] > 0.8 and full["mas"]["cross"] > 0.7 and full["stitch"]["cross"] > 0.7


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[1])


def running_jobs() -> list[int]:
    """This test's Ray workers busy with a job (Ray titles them after the task), never another Ray's."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::mas-job"):
                pid = int(entry.name)
                while pid > 1 and pid != os.getpid():
                    pid = parent(pid)
                if pid == os.getpid():
                    pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def test_a_killed_worker_s_job_is_retried_and_written_once(
    ray_runner: JobRunner, tiny_gru_folders: list[Path], inprocess_sweep: list[dict], tmp_path: Path
) -> None:
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_busy_worker() -> None:
        while not stop.is_set() and not killed:
            for pid in running_jobs()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    try:
        rows = run_sweep(small_spec(tiny_gru_folders), tmp_path / "rows.jsonl", show_progress=False, runner=ray_runner)
    finally:
        stop.set()
        killer.join()
    assert killed, "no job was seen running"
    keys = [r["key"] for r in read_table(tmp_path / "rows.jsonl")]
    assert len(keys) == len(set(keys)) == len(inprocess_sweep)
    assert comparable(rows) == comparable(inprocess_sweep)


def test_a_resumed_sweep_runs_only_missing_jobs(
    ray_runner: JobRunner, tiny_gru_folders: list[Path], inprocess_sweep: list[dict], tmp_path: Path
) -> None:
    table = tmp_path / "rows.jsonl"
    kept = [{**r, "seconds": -1.0} for r in inprocess_sweep[:-1]]  # marks rows no job wrote in this run
    table.write_text("".join(json.dumps(r) + "\n" for r in kept))
    rows = run_sweep(small_spec(tiny_gru_folders), table, show_progress=False, runner=ray_runner)
    assert [r["seconds"] for r in rows[:-1]] == [-1.0] * len(kept) and rows[-1]["seconds"] > 0
    assert comparable(rows) == comparable(inprocess_sweep) and len(read_table(table)) == len(rows)


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "at least 1"),
    (["--workers", "2", "--ray-address", "127.0.0.1:1"], "one of them"),
])
def test_bad_runner_flags_are_one_line_errors(tiny_gru_folders: list[Path], tmp_path: Path, flags: list[str],
                                              message: str) -> None:
    table = tmp_path / "rows.jsonl"
    result = CliRunner().invoke(app, ["sweep", *map(str, tiny_gru_folders), "--table", str(table), *flags])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert not table.exists()


def test_figure_3b_parts_on_ray_match_in_process(ray_runner: JobRunner, tiny_gru_folders: list[Path],
                                                 tmp_path: Path) -> None:
    config = Figure3bConfig(k=4, steps=3, batch_size=8, train_pairs=32, validation_pairs=8, test_pairs=16)
    state = config.variable("multi_object")
    jobs = [config.job(list(tiny_gru_folders), [state] * 2, 0),  # a MAS part and a DAS part
            config.job(tiny_gru_folders[1:], [state], 0)]
    results = {}
    for name, runner in (("here", JobRunner()), ("ray", ray_runner)):
        parts = [figure_3b.part(job, [state] * len(job.models), tmp_path / name) for job in jobs]
        results[name] = cached_map(runner, figure_3b.run_part, None, parts, figure_3b.describe, show_progress=False)
    assert len(list((tmp_path / "ray").iterdir())) == 2
    assert comparable(results["ray"]) == comparable(results["here"])
    assert set(results["ray"][0]["iia"]) == {"0->0", "0->1", "1->0", "1->1"}


def test_figure_2c_fine_tunes_on_ray_match_in_process(ray_runner: JobRunner, tmp_path: Path) -> None:
    """Each fine-tuned copy is a job; on Ray workers the saved weights equal the in-process ones."""
    from safetensors.numpy import load_file
    from tiny_lm import tiny_llama, word_tokenizer

    from mas.experiments.figure_2c import Figure2cConfig, finetune_copies

    words = ["<pad>", "<eos>", "<unk>"] + [f"w{i}" for i in range(20)]
    base = tmp_path / "base"
    tiny_llama(len(words)).save_pretrained(base)
    word_tokenizer(words).save_pretrained(base)
    texts = {label: [" ".join(f"w{(i * 3 + j + label) % 20}" for j in range(12)) for i in range(8)] for label in (0, 1)}
    cfg = Figure2cConfig(base_model=str(base), toxic=1, nontoxic=1, finetune_steps=3, finetune_lr=1e-2,
                         finetune_length=12, finetune_batch=2, lora_rank=0).with_profile(width=32)
    weights = {}
    for name, runner in (("here", JobRunner()), ("ray", ray_runner)):
        folders = finetune_copies(cfg, tmp_path / name, texts, log=lambda line: None, runner=runner)
        weights[name] = [load_file(folder / "model.safetensors") for folder in folders]
    assert [sorted(w) for w in weights["ray"]] == [sorted(w) for w in weights["here"]]
    for ray_copy, here_copy in zip(weights["ray"], weights["here"]):
        assert all((ray_copy[key] == here_copy[key]).all() for key in here_copy)
    assert any((weights["here"][0][key] != weights["here"][1][key]).any() for key in weights["here"][0])


def test_figure_2ab_mas_runs_on_ray_match_in_process(ray_runner: JobRunner, figure_2ab_models: Path,
                                                   tmp_path: Path) -> None:
    """Each MAS run of the figure is a job; on Ray workers the rows and run folders equal the in-process ones."""
    cfg = Figure2abConfig(models_dir=figure_2ab_models, transformer_seeds=[0], seeds=[0], steps=2, train_pairs=64,
                          test_pairs=32, k_hidden=4, k_embed=4, b2_site=None, repeats=2, rows=200)
    results = {name: run_figure_2ab(cfg, tmp_path / name / "fig", show_progress=False, log=lambda line: None,
                                    runner=runner) for name, runner in (("here", JobRunner()), ("ray", ray_runner))}
    assert results["ray"]["rows"] == results["here"]["rows"]
    runs = sorted(p.name for p in (tmp_path / "ray" / "fig" / "mas").iterdir())
    assert len(runs) == 6 and runs == sorted(p.name for p in (tmp_path / "here" / "fig" / "mas").iterdir())
