"""Figure 2d's sweep (reduced steps) in this process against `--workers N` on a local Ray, same run.

Both runs use the same two width-128 Multi-Object GRUs (untrained unless `--models-dir` holds
trained ones: speed does not depend on the weights), the same grid (DAS and MAS over k, stitching
over r, 12 jobs) and pairs. The in-process run uses `--in-process-threads` torch threads (default 1,
what `mas figure 2d` uses for task models); on Ray each job gets one core. Jobs run their full
`--steps` (no early stopping), so every run does the same work. The rows must match, timings aside.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mas.experiments.figure_2d import Figure2d
from mas.experiments.sweep import run_sweep
from mas.models.checkpoint import TaskModelConfig, save_checkpoint
from mas.runner import open_runner
from mas.tasks import make_task


def untrained_grus(root: Path) -> list[Path]:
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = TaskModelConfig(arch="gru", task="multi_object", vocab_size=make_task("multi_object").vocab_size,
                                 seed=seed)
        folders.append(root / f"multi_object-gru-s{seed}")
        save_checkpoint(folders[-1], config.build_model(), config)
    return folders


def timed_sweep(figure: Figure2d, models: list[Path], table: Path, workers: int | None) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    with open_runner(workers) as runner:  # Ray's start-up counts against it
        rows = run_sweep(figure.spec(models), table, show_progress=True, runner=runner)
    return time.perf_counter() - start, [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="steps per job (the figure's ceiling is 600)")
    parser.add_argument("--in-process-threads", type=int, default=1, help="torch threads of the in-process run")
    parser.add_argument("--train-pairs", type=int, default=4096, help="the figure's 4096; fewer on a busy machine")
    parser.add_argument("--test-pairs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=None, help="folder with multi_object-gru-s0 and -s1")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # One seed, and patience longer than the run, so every job trains exactly `--steps` steps.
    figure = Figure2d(seeds=[0], steps=args.steps, patience=args.steps, train_pairs=args.train_pairs,
                      test_pairs=args.test_pairs)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = ([args.models_dir / f"multi_object-gru-s{s}" for s in (0, 1)] if args.models_dir
                  else untrained_grus(root / "models"))
        threads = args.in_process_threads
        torch.set_num_threads(threads)
        serial, serial_rows = timed_sweep(figure, models, root / "in_process.jsonl", None)
        parallel, parallel_rows = timed_sweep(figure, models, root / "ray.jsonl", args.workers)
    result = {"jobs": len(serial_rows), "steps": args.steps, "train_pairs": args.train_pairs, "in_process_s": round(serial, 1),
              "in_process_threads": threads, "workers": args.workers, "ray_s": round(parallel, 1),
              "speedup": round(serial / parallel, 2), "identical_rows": serial_rows == parallel_rows}
    print(f"{result['jobs']} jobs, {args.steps} steps each: in process ({threads} threads) {serial:.1f} s, "
          f"{args.workers} Ray workers {parallel:.1f} s, {result['speedup']:.2f}x; "
          f"rows identical: {result['identical_rows']}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
