"""`ModuleAdapter` against the built-in task-model adapter on the same GRU weights, in the same run.

Three adapters over one untrained GRU (width 128; speed does not depend on the weights): the
built-in `TaskModelAdapter`; `ModuleAdapter` on a plain module that loops a `GRUCell` (whole
sequences every step); and `ModuleAdapter` on the same module offering `SteppedModule` (resumed
from each pair's first intervened position). Each trains DAS at the recurrent state on the same
Multi-Object pairs with the same settings; the ratio to the built-in adapter is what to read.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from mas.adapters import TaskModelAdapter
from mas.adapters.module import ModuleAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.models import GRUModel
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs


class LoopedGRU(nn.Module):
    """A task GRU's weights as a user would write the model: a cell stepped in a Python loop."""

    def __init__(self, model: GRUModel) -> None:
        super().__init__()
        self.embed, self.cell, self.head = model.embed, model.cell, model.readout

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.initial_state(tokens.shape[0])
        states = []
        for t in range(tokens.shape[1]):
            h = self.step(tokens[:, t], h)
            states.append(h)
        return self.readout(torch.stack(states, 1))

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.cell.hidden_size)

    def step(self, token: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.cell(self.embed(token), state)

    def readout(self, state: torch.Tensor) -> torch.Tensor:
        return self.head(state)


class PlainGRU(LoopedGRU):
    """The same module without `state_site`: `ModuleAdapter` cannot resume it."""


class SteppedGRU(LoopedGRU):
    state_site = "cell"


def steps_per_second(adapter, site: str, pairs, k: int, batch: int, steps: int) -> float:  # type: ignore[no-untyped-def]
    trainer = AlignmentTrainer([adapter], [site], AlignConfig(k=k, steps=steps, batch_size=batch, eval_every=10**6))
    trainer.fit({(0, 0): pairs}, show_progress=False)  # warm-up: caches, the reach check
    began = time.perf_counter()
    trainer.fit({(0, 0): pairs}, show_progress=False)
    return steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--k", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    task = MultiObject()
    pairs = build_pairs(task, task, 2048, {"count": "count"}, seed=0)
    model = GRUModel(task.vocab_size, width=128, embed_width=128)
    example = pairs.tokens[:2]
    adapters = {
        "built-in TaskModelAdapter": (TaskModelAdapter(model), "hidden"),
        "ModuleAdapter, whole sequences": (ModuleAdapter(PlainGRU(model), example), "cell"),
        "ModuleAdapter, SteppedModule": (ModuleAdapter(SteppedGRU(model), example), "cell"),
    }
    rates = {name: steps_per_second(adapter, site, pairs, args.k, args.batch, args.steps)
             for name, (adapter, site) in adapters.items()}
    base = rates["built-in TaskModelAdapter"]
    for name, rate in rates.items():
        print(f"{name:34s} {rate:6.2f} steps/s  ({rate / base:.2f} of built-in)")
    print(json.dumps({"threads": args.threads, "steps": args.steps, "batch": args.batch, "k": args.k,
                      "steps_per_second": rates}))


if __name__ == "__main__":
    main()
