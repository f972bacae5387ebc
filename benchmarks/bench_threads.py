"""Torch threads per kind of work, on an idle machine and beside a busy process: where `mas.threads`'s defaults come from.

Two kinds of work: a MAS step between two width-128 GRUs (the task models of the paper) and a
forward + backward of SmolLM2-135M on 8 × 32 tokens (a language model). Each runs in a fresh
process at 1, 2 and 4 threads (4 oversubscribes a 2-core machine, as torch's default does on a
machine with more cores than this process may use), first alone, then beside a process that keeps
one core busy. Times are seconds per step; ratios are against 1 thread in the same condition.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

THREADS = (1, 2, 4)
SPIN = "while True: pass"


def task_step() -> callable:  # type: ignore[valid-type]
    import torch

    from mas.adapters import TaskModelAdapter
    from mas.align import AlignConfig, AlignmentTrainer, all_directions
    from mas.models import GRUModel
    from mas.tasks import MultiObject
    from mas.tasks.pairs import build_pairs

    task = MultiObject()
    torch.manual_seed(0)
    adapters = [TaskModelAdapter(GRUModel(task.vocab_size), name=f"gru{i}") for i in range(2)]
    pairs = build_pairs(task, task, 1024, {"count": "count"}, seed=0)
    trainer = AlignmentTrainer(adapters, ["hidden", "hidden"], AlignConfig(k=32, steps=3, eval_every=10**9))
    train = {d: pairs for d in all_directions(2)}
    trainer.fit(train, show_progress=False)  # caches the sources outside the timed steps
    return lambda: trainer.fit(train, show_progress=False)  # 3 steps


def lm_step() -> callable:  # type: ignore[valid-type]
    import torch

    from mas.adapters.hf import load_causal_lm
    from mas.lm.smollm2 import smollm2_gguf

    model = load_causal_lm(str(smollm2_gguf()), None, torch.float32)
    tokens = torch.randint(0, model.config.vocab_size, (8, 32), generator=torch.Generator().manual_seed(0))

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(input_ids=tokens, labels=tokens).loss.backward()

    return step


def worker(kind: str, repeats: int) -> None:
    """In a fresh process: seconds per step at each thread count, as one JSON line."""
    import torch

    step = task_step() if kind == "task" else lm_step()
    per_step = 3 if kind == "task" else 1
    times = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        step()  # warm-up at this thread count
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        times[threads] = (time.perf_counter() - start) / (repeats * per_step)
    print(json.dumps(times))


def measure(kind: str, repeats: int, busy: bool) -> dict[int, float]:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--repeats", str(repeats)],
                             capture_output=True, text=True, check=True).stdout
    finally:
        if spinner is not None:
            spinner.kill()
    return {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=("task", "lm"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", default="task,lm")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeats)
        return
    import os

    print(f"threads per kind of work; {len(os.sched_getaffinity(0))} usable cores; seconds per step (ratio to 1 thread)")
    results = {}
    for kind in args.kinds.split(","):
        for busy in (False, True):
            times = measure(kind, args.repeats, busy)
            condition = "busy" if busy else "idle"
            results[f"{kind}/{condition}"] = times
            cells = "   ".join(f"{t} thr {s:7.3f} s ({s / times[1]:.2f}x)" for t, s in times.items())
            print(f"  {kind:>4} {condition}: {cells}")
    if args.json:
        print(json.dumps({"bench": "threads", "seconds_per_step": results}))


if __name__ == "__main__":
    main()
