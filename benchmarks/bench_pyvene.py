"""DAS training speed and memory: `mas` against pyvene on the same SmolLM2 site, batch and k.

Both train a k-dimensional rotated subspace at the output of block 6 of SmolLM2-135M-Instruct
(the shipped GGUF), swapping positions 0..units-1 from a source sequence into a base sequence and
scoring the base's predictions at the later positions, on the same batches. pyvene uses its
`LowRankRotatedSpaceIntervention` (`use_fast=True`); `mas` its `AlignmentTrainer` with one model and
the direction 0->0, once as it trains by default on LMs (target states below the site cached) and
once without that cache.

Each library runs in its own subprocess so that neither inherits the other's allocations. Peak
memory is the Linux resident-set high-water mark (VmHWM) of that process, reset through
/proc/self/clear_refs once the model and data are loaded, so it covers torch's CPU tensors as well
as everything else the step allocates; "extra" is that peak minus the resident size at the reset.
With `--device cuda` both run on the GPU in float32, times are taken after the GPU has finished,
and memory is torch's peak GPU allocation instead.

    python benchmarks/bench_pyvene.py [--steps 3] [--device cpu|cuda] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

IGNORE = -100


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak(device: str) -> int:
    """Reset the high-water mark; the memory in use now (resident set on CPU, allocated on GPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() // 1024
    Path("/proc/self/clear_refs").write_text("5")
    return _memory_kb("VmRSS")


def _peak(device: str) -> int:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() // 1024
    return _memory_kb("VmHWM")


def _batch(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source and base tokens from held-out insults comments, labels = the model's greedy tokens."""
    from mas.adapters.hf import load_tokenizer
    from mas.lm.data import load_texts
    from mas.lm.pairs import tokenize_exact
    from mas.lm.smollm2 import smollm2_gguf

    rows = tokenize_exact(load_tokenizer(smollm2_gguf()), load_texts("insults:test"), args.length)
    source, base = rows[: args.batch], rows[args.batch : 2 * args.batch].clone()
    base[:, args.units :] = source[:, args.units :]
    return source, base


def _labels(logits: torch.Tensor, units: int) -> torch.Tensor:
    labels = logits.argmax(-1)
    labels[:, :units] = IGNORE
    return labels


def run_mas(args: argparse.Namespace, cache: bool) -> dict:
    from mas.adapters.hf import HFAdapter
    from mas.align import AlignConfig, AlignmentTrainer
    from mas.lm.smollm2 import smollm2_gguf
    from mas.tasks.pairs import PairSet

    adapter = HFAdapter(smollm2_gguf(), device=args.device, dtype="float32", cache_states=cache)
    source, base = _batch(args)
    with torch.no_grad():
        labels = _labels(adapter.run(source), args.units)
    positions = torch.arange(args.units).expand(args.batch, -1)
    pairs = PairSet(source, base, labels, positions, positions.clone())
    config = AlignConfig(k=args.k, steps=args.warmup, lr=1e-3, batch_size=args.batch, eval_every=10**6)
    trainer = AlignmentTrainer([adapter], [f"layers.{args.layer}"], config)
    rss = _reset_peak(args.device)
    trainer.fit({(0, 0): pairs}, show_progress=False)  # warm-up (fills the caches)
    trainer.config = config.model_copy(update={"steps": args.steps})
    fit = trainer.fit({(0, 0): pairs}, show_progress=False)  # ends by reading the last loss: the GPU is done
    return {"seconds_per_step": fit.seconds / fit.steps, "rss_kb": rss, "peak_kb": _peak(args.device)}


def run_pyvene(args: argparse.Namespace) -> dict:
    import pyvene as pv

    from mas.adapters.hf import load_causal_lm
    from mas.lm.smollm2 import smollm2_gguf

    model = load_causal_lm(smollm2_gguf()).eval().to(args.device)
    source, base = (t.to(args.device) for t in _batch(args))
    with torch.no_grad():
        labels = _labels(model(input_ids=source).logits, args.units)
    representation = {"layer": args.layer, "component": "block_output", "unit": "pos",
                      "max_number_of_units": args.units, "low_rank_dimension": args.k}
    config = pv.IntervenableConfig(representations=[representation], intervention_types=pv.LowRankRotatedSpaceIntervention)
    intervenable = pv.IntervenableModel(config, model, use_fast=True)
    intervenable.set_device(args.device)  # its interventions are built on the CPU
    intervenable.disable_model_gradients()
    optimizer = torch.optim.Adam(intervenable.get_trainable_parameters(), lr=1e-3)
    where = [[list(range(args.units))] * args.batch]

    def step() -> None:
        _, out = intervenable({"input_ids": base}, [{"input_ids": source}], {"sources->base": (where, where)})
        loss = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rss = _reset_peak(args.device)
    for _ in range(args.warmup):
        step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds_per_step": (time.perf_counter() - start) / args.steps, "rss_kb": rss, "peak_kb": _peak(args.device)}


WORKERS = {
    "mas": lambda args: run_mas(args, cache=True),
    "mas-no-cache": lambda args: run_mas(args, cache=False),
    "pyvene": run_pyvene,
}


def _spawn(name: str, argv: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", name, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per library")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--units", type=int, default=16, help="intervened positions 0..units-1")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    argv = [f"--{name}={getattr(args, name)}" for name in ("steps", "warmup", "batch", "length", "units", "k", "layer", "threads", "device")]
    start = time.perf_counter()
    rows = {name: _spawn(name, argv) for name in WORKERS}
    pyvene = rows["pyvene"]
    print(f"DAS on SmolLM2-135M layers.{args.layer}, batch {args.batch} x {args.length} tokens, k={args.k}, "
          f"{args.units} intervened positions, {args.device}, {args.threads} threads, {args.steps} timed steps")
    print(f"{'library':<14}{'s/step':>9}{'steps/s':>9}{'peak MiB':>10}{'extra MiB':>11}{'speed vs pyvene':>17}{'extra mem vs pyvene':>21}")
    for name, row in rows.items():
        row["extra_kb"] = row["peak_kb"] - row["rss_kb"]
        row["speedup"] = pyvene["seconds_per_step"] / row["seconds_per_step"]
        row["memory_ratio"] = row["extra_kb"] / max(pyvene["peak_kb"] - pyvene["rss_kb"], 1)
        print(f"{name:<14}{row['seconds_per_step']:>9.2f}{1 / row['seconds_per_step']:>9.3f}{row['peak_kb'] / 1024:>10.0f}"
              f"{row['extra_kb'] / 1024:>11.0f}{row['speedup']:>16.1f}x{row['memory_ratio']:>20.2f}x")
    if args.json:
        print(json.dumps({"settings": vars(args) | {"worker": None}, "results": rows,
                          "seconds": round(time.perf_counter() - start, 1)}, sort_keys=True))


if __name__ == "__main__":
    main()
