"""A population's cost: sampled directions (n a step) against all n² directions, and joint against pairwise.

Part 1, time per training step for n = 2, 4, 8, 16 models, the trainer with
`direction_sampling="derangement"` (each model once as source and once as target per step) against
`"all"` (every direction every step), in the same run on the same models (untrained GRUs of width
32 on Multi-Object up to 6: speed does not depend on the weights), pairs, batch size and k. Each
configuration first runs a few steps that fill the source-state cache, then is timed over its own
steps, the fastest of a few repeats kept (on a shared machine, the least disturbed). The sampled
step should grow linearly in n, the all-directions step quadratically.

Part 2, what sampling costs in quality, on three GRUs trained here for a few hundred steps: one
joint sampled run over all three against the three pairwise MAS runs (both directions of each pair,
all directions every step), the same number of steps, k, batch and pairs. Each off-diagonal
direction's held-out IIA is printed for both, with the wall time to a finished matrix.

    OMP_NUM_THREADS=1 python benchmarks/bench_zoo.py [--steps 8] [--repeats 3] [--quality-steps 400]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from itertools import combinations
from pathlib import Path

import torch

from mas.adapters import TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer, all_directions
from mas.evaluate import evaluate_iia
from mas.models import GRUModel, load_checkpoint
from mas.models.training import TrainConfig, train_task_model
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs

TASK = MultiObject(max_count=6)
WIDTH = 32
MODEL = dict(task="multi_object", arch="gru", width=WIDTH, max_steps=600, eval_every=50, eval_sequences=200,
             heldout_counts=[3], options={"max_count": 6})


def seconds_per_step(n: int, sampling: str, steps: int, batch: int, k: int, repeats: int) -> float:
    """The fastest of `repeats` timings of `steps` steps: on a shared machine, the least disturbed one."""
    models = []
    for seed in range(n):
        torch.manual_seed(seed)
        models.append(TaskModelAdapter(GRUModel(TASK.vocab_size, width=WIDTH, embed_width=WIDTH), name=f"m{seed}"))
    pairs = build_pairs(TASK, TASK, 512, {"count": "count"}, seed=0)
    config = AlignConfig(k=k, batch_size=batch, direction_sampling=sampling, steps=3, lr_schedule="constant")
    trainer = AlignmentTrainer(models, ["hidden"] * n, config)
    train = {d: pairs for d in all_directions(n)}
    trainer.fit(train, show_progress=False)  # fills the source-state cache
    trainer.config = config.model_copy(update={"steps": steps})
    return min(trainer.fit(train, show_progress=False).seconds for _ in range(repeats)) / steps


def step_table(steps: int, batch: int, k: int, repeats: int) -> list[dict]:
    rows = []
    for n in (2, 4, 8, 16):
        row = {"n": n}
        for sampling in ("derangement", "all"):
            row[sampling] = seconds_per_step(n, sampling, steps, batch, k, repeats)
        rows.append(row)
        print(f"n={n:2d}  sampled {row['derangement'] * 1e3:8.1f} ms/step   all n² {row['all'] * 1e3:8.1f} ms/step   "
              f"all/sampled {row['all'] / row['derangement']:.1f}×", flush=True)
    for small, large in zip(rows, rows[1:]):
        print(f"n {small['n']}→{large['n']}: sampled ×{large['derangement'] / small['derangement']:.2f}, "
              f"all n² ×{large['all'] / small['all']:.2f}")
    return rows


def quality(root: Path, steps: int, batch: int, k: int) -> dict:
    folders = []
    for seed in range(3):
        folder = root / f"gru-s{seed}"
        train_task_model(TrainConfig(seed=seed, **MODEL), folder, show_progress=False)
        folders.append(folder)
    adapters = [TaskModelAdapter(load_checkpoint(f)[0], name=f.name) for f in folders]
    train, test = (build_pairs(TASK, TASK, n, {"count": "count"}, seed=s) for n, s in ((1024, 0), (256, 2)))

    def fit_and_score(models: list[TaskModelAdapter], sampling: str) -> tuple[dict, float]:
        start = time.perf_counter()
        config = AlignConfig(k=k, batch_size=batch, steps=steps, direction_sampling=sampling)
        trainer = AlignmentTrainer(models, ["hidden"] * len(models), config)
        directions = all_directions(len(models))
        fit = trainer.fit({d: train for d in directions}, show_progress=False)
        scores = evaluate_iia(trainer, fit.rotations, {d: test for d in directions if d[0] != d[1]})
        return {d: s.trial for d, s in scores.items()}, time.perf_counter() - start

    joint, joint_seconds = fit_and_score(adapters, "derangement")
    pairwise, pairwise_seconds = {}, 0.0
    for a, b in combinations(range(3), 2):
        scores, seconds = fit_and_score([adapters[a], adapters[b]], "all")
        pairwise.update({((a, b)[s], (a, b)[t]): v for (s, t), v in scores.items()})
        pairwise_seconds += seconds
    differences = {f"{s}->{t}": joint[(s, t)] - pairwise[(s, t)] for s, t in sorted(joint)}
    for s, t in sorted(joint):
        print(f"{s}->{t}: joint {joint[(s, t)]:.3f}  pairwise {pairwise[(s, t)]:.3f}  "
              f"difference {joint[(s, t)] - pairwise[(s, t)]:+.3f}")
    mean_abs = sum(abs(v) for v in differences.values()) / len(differences)
    print(f"mean |joint − pairwise| {mean_abs:.3f}; wall time to the matrix: joint {joint_seconds:.1f} s, "
          f"pairwise {pairwise_seconds:.1f} s")
    return {"joint_seconds": joint_seconds, "pairwise_seconds": pairwise_seconds, "differences": differences,
            "mean_abs_difference": mean_abs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per configuration")
    parser.add_argument("--repeats", type=int, default=3, help="timings per configuration; the fastest is kept")
    parser.add_argument("--batch", type=int, default=64, help="pairs per direction per step")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--quality-steps", type=int, default=400, help="training steps of the joint and pairwise runs")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result: dict = {"steps": step_table(args.steps, args.batch, args.k, args.repeats)}
    if not args.skip_quality:
        with tempfile.TemporaryDirectory() as root:
            result["quality"] = quality(Path(root), args.quality_steps, 64, args.k)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
