"""The population of docs/zoo.md: 12 small task models trained here, then one `mas zoo` run over them.

Five Multi-Object GRUs, four Multi-Object transformers (voids in their data, as transformers are
trained) and three Rounding GRUs, all of width 32 on counts up to 6, so the whole population trains
in a few CPU minutes; one more Multi-Object GRU is then added to the finished run with --add-to.
Models already trained with these settings are reused.

    OMP_NUM_THREADS=1 python scripts/zoo_population.py runs/zoo-population
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch

from mas.models.training import TrainConfig, is_finished, train_task_model, trained_with

COMMON = dict(width=32, max_steps=1500, eval_every=50, eval_sequences=200, options={"max_count": 6})
POPULATION = (
    [("multi_object", "gru", seed, [3]) for seed in range(5)]
    + [("multi_object", "transformer", seed, [3]) for seed in range(4)]
    + [("rounding", "gru", seed, []) for seed in range(3)]
)
ADDED = ("multi_object", "gru", 5, [3])
SITES = {"gru": "hidden", "transformer": "layers.0"}  # a transformer's residual stream after its first block
ZOO = ["--k", "8", "--steps", "400", "--lr", "0.01", "--batch-size", "32", "--pairs", "512", "--test-pairs", "100"]


def trained(root: Path, task: str, arch: str, seed: int, heldout: list[int]) -> Path:
    folder = root / "models" / f"{task.replace('_', '-')}-{arch}-s{seed}"
    config = TrainConfig(task=task, arch=arch, seed=seed, heldout_counts=heldout, **COMMON)
    if not (is_finished(folder) and trained_with(folder, config)):
        start = time.perf_counter()
        result = train_task_model(config, folder, show_progress=False)
        print(f"{folder.name}: held-out accuracy {result.heldout_accuracy:.3f} after {result.steps} steps, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return folder


def main(root: Path) -> None:
    torch.set_num_threads(1)
    models = [trained(root, *spec) for spec in POPULATION]
    added = trained(root, *ADDED)
    mas = [str(Path(sys.executable).parent / "mas")]
    sites = ",".join(SITES[arch] for _, arch, _, _ in POPULATION)
    for command in ([*mas, "zoo", *map(str, models), "--site", sites, *ZOO, "--out", str(root / "zoo")],
                    [*mas, "zoo", str(added), "--add-to", str(root / "zoo"), "--out", str(root / "zoo-added")]):
        start = time.perf_counter()
        subprocess.run(command, check=True)
        what = "adding one model" if "--add-to" in command else f"the {len(models)}-model population"
        print(f"mas zoo, {what}: {time.perf_counter() - start:.0f} s wall", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/zoo-population"))
