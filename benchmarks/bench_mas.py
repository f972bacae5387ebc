"""MAS training speed against a plain loop and against the limit, all in the same run.

The plain baseline recomputes every source activation each step (captured on a whole forward pass,
readout included) and runs each direction through its target separately over whole sequences, as a
hand-wired implementation would. The trainer caches
sources and where each target can start, stacks directions, and runs each target only from each
pair's first intervened position to its last scored one. The limit is the target's bare forward and
backward over just those positions (no rotation, no intervention; the gradient flows into the start
state): no step can do less. All use the same models (width 128, untrained: speed does not
depend on the weights), the same pairs, batch size and k. The trainer's one-off caching is timed
apart from its steps. Each is measured for the GRU (at its hidden state) and for the 2-layer
transformer (after its first block), and free-running is timed against one teacher-forced pass.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from mas.adapters import TaskModelAdapter
from mas.adapters.resume import Resume
from mas.align import AlignConfig, AlignmentTrainer, Rotations, all_directions
from mas.align.interchange import DirectionPart, read_resume, stacked_batch, write_aligned
from mas.models import GRUModel, TransformerModel
from mas.tasks import MultiObject
from mas.tasks.pairs import IGNORE, build_pairs


@torch.no_grad()
def hooked_source_states(adapter: TaskModelAdapter, site: str, pairs) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Source states as a hand-wired loop reads them: a capture on a whole forward pass, readout included."""
    states = adapter.model(pairs.source_tokens, capture=site)[1]
    where = pairs.source_positions
    return torch.gather(states, 1, where.clamp(min=0)[..., None].expand(-1, -1, states.shape[-1])) * (where >= 0)[..., None]


def plain_steps(adapters, site, pairs, directions, k, batch, steps) -> float:  # type: ignore[no-untyped-def]
    """Steps per second of the straightforward loop, with torch's default orthogonal map (the exponential)."""
    rotations = Rotations([a.width(site) for a in adapters], seed=0, orthogonal_map="matrix_exp")
    optimizer = torch.optim.Adam(rotations.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        for s, t in directions:
            rows = pairs.subset(torch.randint(len(pairs), (batch,), generator=generator))
            states = hooked_source_states(adapters[s], site, rows)  # recomputed every step
            qs, qt = rotations.matrices()[s], rotations.matrices()[t]  # rebuilt on every use
            encoded = states.to(qs.dtype) @ qs[:, :k]
            part = DirectionPart(rows, encoded)
            tokens, labels, edit = stacked_batch(site, [part], lambda z, own, qt=qt: write_aligned(z, own, qt[:, :k], True))
            logits = adapters[t].run(tokens, edit, None, labels != IGNORE)
            F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE).backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def mas_steps(adapters, site, pairs, directions, k, batch, steps) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Steps per second of the trainer once its caches are filled, and the seconds filling them took."""
    trainer = AlignmentTrainer(adapters, [site] * len(adapters), AlignConfig(k=k, batch_size=batch, steps=1, eval_every=10**9))
    train = {d: pairs for d in directions}
    start = time.perf_counter()
    trainer.fit(train, show_progress=False)  # fills the caches; one step
    one_off = time.perf_counter() - start
    trainer.config = trainer.config.model_copy(update={"steps": steps})
    start = time.perf_counter()
    trainer.fit(train, show_progress=False)
    return steps / (time.perf_counter() - start), one_off


def limit_steps(adapters, site, pairs, directions, batch, steps) -> float:  # type: ignore[no-untyped-def]
    """Steps per second of each target's bare forward + backward from each pair's start on; drawing
    a step's rows and gathering their recorded states is left out of the time."""
    resumes = [read_resume(a, site, pairs) for a in adapters]
    generator = torch.Generator().manual_seed(1)
    seconds = 0.0
    for _ in range(steps):
        for t, adapter in enumerate(adapters):
            rows = torch.randint(len(pairs), (batch * sum(d[1] == t for d in directions),), generator=generator)
            at = resumes[t].subset(rows)
            # The gradient flows into the site's states alone (a transformer's recorded keys and
            # values of the prefix beside them are constants, as in a MAS step).
            width, recorded = adapter.width(site), at.row_states()
            states = torch.cat([recorded[..., :width].clone().requires_grad_(True), recorded[..., width:]], -1)
            resume = Resume(at.start, states)
            labels, tokens = pairs.labels[rows], pairs.tokens[rows]
            start = time.perf_counter()
            logits = adapter.run(tokens, None, None, labels != IGNORE, resume)
            F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE).backward()
            seconds += time.perf_counter() - start
    return steps / seconds


SITES = {"gru": "hidden", "transformer": "layers.0"}


def rotation_seconds(orthogonal_map: str, widths: list[int], repeats: int = 20) -> float:
    """Seconds per step of building every Q (as a cached step does, once each) and back-propagating into them."""
    rotations = Rotations(widths, seed=0, orthogonal_map=orthogonal_map)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(repeats):
        with torch.nn.utils.parametrize.cached():
            sum(q[:, :32].sum() ** 2 for q in rotations.matrices()).backward()
    return (time.perf_counter() - start) / repeats


def free_running_ratio(adapter: TaskModelAdapter, pairs, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Seconds of a free-running run over those of one teacher-forced pass on the same pairs: the
    cost of decoding the fed positions one by one (a transformer from its cached keys and values)."""
    scored = pairs.labels != IGNORE
    timings = []
    for feed in (scored, None):
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(repeats):
                adapter.run(pairs.tokens, None, feed)
        timings.append(time.perf_counter() - start)
    return timings[0] / timings[1]


def bench(arch: str, args: argparse.Namespace) -> dict:
    task = MultiObject()
    torch.manual_seed(0)
    model = GRUModel if arch == "gru" else TransformerModel
    adapters = [TaskModelAdapter(model(task.vocab_size), name=f"{arch}{i}") for i in range(2)]
    pairs = build_pairs(task, task, 2048, {"count": "count"}, seed=0)
    directions, site = all_directions(2), SITES[arch]
    plain = plain_steps(adapters, site, pairs, directions, args.k, args.batch, args.steps)
    ours, one_off = mas_steps(adapters, site, pairs, directions, args.k, args.batch, args.steps)
    limit = limit_steps(adapters, site, pairs, directions, args.batch, args.steps)
    free = free_running_ratio(adapters[0], pairs.subset(slice(0, 1000)))
    print(f"MAS training, 2 {arch}s (width 128) at {site}, 4 directions, batch {args.batch}/direction, k={args.k}, {args.steps} steps")
    print(f"  plain (recompute sources, one direction at a time, whole sequences): {plain:7.2f} steps/s   1.00x")
    print(f"  mas   (cached sources and starts, batched directions, suffixes):     {ours:7.2f} steps/s   {ours / plain:.2f}x")
    print(f"  limit (bare forward + backward of the targets on the suffixes):      {limit:7.2f} steps/s   {limit / plain:.2f}x")
    print(f"  a mas step takes {limit / ours:.2f}x the limit; its caches took {one_off:.1f} s once")
    print(f"  free-running 1000 pairs takes {free:.2f}x one teacher-forced pass over them")
    return {"bench": "mas_training", "arch": arch, "site": site, "plain_steps_per_s": plain, "mas_steps_per_s": ours,
            "limit_steps_per_s": limit, "ratio": ours / plain, "step_over_limit": limit / ours, "one_off_s": one_off,
            "free_running_over_teacher_forced": free}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--arch", default="gru,transformer", help="comma list of task model kinds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [bench(arch, args) for arch in args.arch.split(",")]
    widths = [128, 128]
    exponential, cayley = (rotation_seconds(m, widths) for m in ("matrix_exp", "cayley"))
    print(f"rotations (2 × 128², float64), build + backward per step: matrix exponential {exponential * 1e3:.1f} ms, "
          f"Cayley {cayley * 1e3:.1f} ms ({exponential / cayley:.1f}x)")
    results.append({"bench": "rotation_map", "matrix_exp_s": exponential, "cayley_s": cayley})
    if args.json:
        for result in results:
            print(json.dumps(result))


if __name__ == "__main__":
    main()
