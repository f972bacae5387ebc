"""CLMAS from recordings alone against CLMAS given the model itself: No Access IIA, same seeds.

Model 0 (the inaccessible one) is a trained Multi-Object GRU. Its hidden states over natural
sequences are saved to files with the task's variables per row; CLMAS then aligns model 1 to the
files alone. The same CLMAS given GRU 0 itself (its states read on the pairs, latents recorded from
it) is the reference. Both are scored by intervening on the real GRU 0 (No Access: 1 -> 0), which
the recordings-only run never touched.

    python benchmarks/recorded_clmas.py MODEL_0 MODEL_1 [--seeds 0,1,2] [--steps 250] [--k 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from mas.adapters.recording import load_recording, record, save_recording
from mas.align import AlignConfig, AlignmentTrainer, attach_latents, record_latents
from mas.evaluate import evaluate_iia
from mas.experiments.alignment import load_task_models, shared_task
from mas.experiments.recorded_clmas import RecordedCLMASJob, fit_recorded_clmas
from mas.tasks.pairs import build_pairs


def no_access(adapters, site, k, rotations, task, seed, n=500) -> float:  # type: ignore[no-untyped-def]
    trainer = AlignmentTrainer(adapters, [site, site], AlignConfig(k=k))
    pairs = build_pairs(task, task, n, {"count": "count"}, seed=1000 + seed)
    return evaluate_iia(trainer, rotations, {(1, 0): pairs})[(1, 0)].trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs=2, type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=2048)
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--site", default="hidden")
    args = parser.parse_args()
    adapters, configs = load_task_models(list(args.models))
    task = shared_task(configs)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in map(int, args.seeds.split(",")):
            config = AlignConfig(k=args.k, steps=args.steps, seed=seed)
            states, labels = Path(folder) / "states.npy", Path(folder) / "labels.csv"
            save_recording(record(adapters[0], args.site, task, args.sequences, seed), states, labels)
            job = RecordedCLMASJob(states=states, labels=labels, model=args.models[1], site=args.site,
                                   train_pairs=args.pairs, align=config)
            _, fit, _ = fit_recorded_clmas(load_recording(states, labels), adapters[1], args.site, task, job, False)
            from_files = no_access(adapters, args.site, args.k, fit.rotations, task, seed)
            mapping = {"count": "count"}
            bank = record_latents(adapters[0], args.site, task, args.sequences, seed)
            pairs = [build_pairs(task, task, args.pairs, mapping, seed=4 * seed + i) for i in range(4)]
            trainer = AlignmentTrainer(adapters, [args.site] * 2, config)
            given = trainer.fit({(1, 1): pairs[0], (0, 1): pairs[1]}, show_progress=False, latents={
                (1, 0): attach_latents(pairs[2], bank, task, task, mapping, seed),
                (0, 0): attach_latents(pairs[3], bank, task, task, mapping, seed)})
            with_model = no_access(adapters, args.site, args.k, given.rotations, task, seed)
            rows.append({"seed": seed, "recordings_only": from_files, "model_given": with_model})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({name: statistics.fmean(r[name] for r in rows) for name in ("recordings_only", "model_given")}))


if __name__ == "__main__":
    main()
