"""Where models run: the `--device` choice of a command, resolved to torch devices.

The choice is a context variable: a command, or any Python caller, sets it for a block
(`using_devices`), and the code that builds models asks for the device of its i-th model
(`model_device(i)`); nothing reads a module global, so two threads or tasks may choose apart. One spec names every model's device
(`auto`, `cpu`, `cuda`, `cuda:N`); a comma list gives model i the i-th entry (the last one repeats),
so two models of one run may sit on different devices. `auto` means CUDA where present.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from mas.errors import MasError

# The device choice of the running command: one entry per model, the last repeating.
_choice: ContextVar[tuple[str, ...]] = ContextVar("mas_devices", default=("auto",))


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """A torch device from `auto`, `cpu`, `cuda` or `cuda:N` (None is `auto`); refuses a missing GPU."""
    if isinstance(spec, torch.device):
        return spec
    text = (spec or "auto").strip()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise MasError(f"unknown device {text!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda", "meta"):
        raise MasError(f"unsupported device {text!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise MasError(f"device {text!r} asked for, but torch sees no CUDA device")
        if device.index is not None and device.index >= count:
            raise MasError(f"device {text!r} asked for, but torch sees only {count} CUDA device(s)")
    return device


def parse_devices(text: str | None) -> list[str]:
    """The entries of a `--device` value, each checked; None or empty is `auto`."""
    entries = [item.strip() for item in (text or "auto").split(",") if item.strip()] or ["auto"]
    for entry in entries:
        resolve_device(entry)
    return entries


def model_device(index: int = 0) -> torch.device:
    """The device the current command gives its model number `index`."""
    choice = _choice.get()
    return resolve_device(choice[min(index, len(choice) - 1)])


@contextmanager
def using_devices(text: str | None) -> Iterator[list[str]]:
    """Make `text` (a `--device` value) the device choice for the duration of a block."""
    entries = parse_devices(text)
    token = _choice.set(tuple(entries))
    try:
        yield entries
    finally:
        _choice.reset(token)
