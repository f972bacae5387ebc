"""DAS steps on SmolLM2 from recorded past key values against whole runs, on the shipped `capitals` pairs.

The pairs intervene at the country's last token, mid-prompt, and score the answer at the end. Both
adapters cache the states below the site (`cache_states`, as `mas lm-align` does); one also resumes
every step from the recorded keys and values of the blocks above the site over each pair's unchanged
prefix, the other runs those blocks over every position. Same pairs, batch, k, seed and steps; the
one-off recording is timed apart. The last training loss of the two runs is printed beside the
times: it must agree to float rounding (the runs compute the same thing).

    OMP_NUM_THREADS=1 python benchmarks/bench_lm_resume.py [--steps 10] [--site layers.6] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

from mas.adapters.hf import HFAdapter, load_tokenizer
from mas.align import AlignConfig, AlignmentTrainer
from mas.lm.pair_files import pair_file_path, pair_sets_from_file, read_pair_file
from mas.lm.smollm2 import smollm2_gguf


class WholeRuns(HFAdapter):
    """The same adapter, never resuming: every step runs the blocks above the site over every position."""

    def resumes(self, free_running: bool) -> bool:
        return False


def timed_fit(adapter: HFAdapter, site: str, train: dict, args: argparse.Namespace) -> dict:
    config = AlignConfig(k=args.k, steps=1, batch_size=args.batch, eval_every=10**9, seed=0)
    trainer = AlignmentTrainer([adapter], [site], config)
    start = time.perf_counter()
    trainer.fit(train, show_progress=False)  # fills the caches (and the record) with one step
    one_off = time.perf_counter() - start
    trainer.config = config.model_copy(update={"steps": args.steps})
    start = time.perf_counter()
    fit = trainer.fit(train, show_progress=False)
    seconds = (time.perf_counter() - start) / args.steps
    return {"step_s": seconds, "one_off_s": one_off, "loss": fit.history[-1]["loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--site", default="layers.6")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    gguf = smollm2_gguf()
    tokenizer = load_tokenizer(gguf)
    path = pair_file_path("capitals")
    specs = read_pair_file(path)
    train = pair_sets_from_file(specs, [tokenizer], ["smollm2"], path, list(range(int(0.7 * len(specs)))))
    resumed = HFAdapter(gguf, name="smollm2", cache_states=True)
    whole = WholeRuns(resumed.model, name="smollm2", cache_states=True)
    results = {name: timed_fit(adapter, args.site, train, args) for name, adapter in (("whole", whole), ("resumed", resumed))}
    tokens = train[(0, 0)].tokens
    first = train[(0, 0)].edit_mask.float().argmax(1)
    print(f"DAS on SmolLM2-135M at {args.site}, capitals pairs ({len(tokens)} train, {tokens.shape[1]} tokens padded, "
          f"first edit at token {float(first.float().mean()):.1f} on average), batch {args.batch}, k={args.k}, {args.steps} steps")
    for name, r in results.items():
        print(f"  {name:8s} {r['step_s']:.3f} s/step  caches {r['one_off_s']:.1f} s once  last loss {r['loss']:.6f}")
    print(f"  resumed steps take {results['resumed']['step_s'] / results['whole']['step_s']:.2f}x the whole runs' time")
    if args.json:
        print(json.dumps({"bench": "lm_resume", "site": args.site, **{f"{n}_{k}": v for n, r in results.items() for k, v in r.items()}}))


if __name__ == "__main__":
    main()
