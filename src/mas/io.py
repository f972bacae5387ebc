"""Run folders, atomic writes, safetensors checkpoints and JSON results.

Every file is written to a temporary name in its final folder and then renamed, so a crash never
leaves a half-written checkpoint or result behind. Nothing here unpickles anything.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from mas.errors import MasError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_path(path: Path, folder: bool = False) -> Path:
    """A temporary beside `path`, named `.NAME.PID.*` (so a killed run's leftovers can be told apart),
    with the permissions the user's umask gives new files and folders (mkstemp alone makes them private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name}.{os.getpid()}.", ".tmp"
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
        tmp.chmod(0o777 & ~_umask())
        return tmp
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    Path(name).chmod(0o666 & ~_umask())
    return Path(name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:  # a full disk: say which file could not be written
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise MasError(f"missing file: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MasError(f"corrupt JSON file {path}: {err}") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save tensors as safetensors, atomically (through `atomic_write_bytes`, so with its permissions)."""
    atomic_write_bytes(Path(path), save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_tensors_with_metadata(path)[0]


def load_tensors_with_metadata(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the string metadata saved beside them (empty when the file has none)."""
    path = Path(path)
    if not path.is_file():
        raise MasError(f"missing file: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise MasError(f"corrupt safetensors file {path}: {err}") from None


def write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    """A flat CSV of `rows` (missing values left empty), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(Path(path), buffer.getvalue().encode())


def saved_result(path: Path, key: Any) -> dict | None:
    """The `{"key", "result"}` saved at `path` by `cached_result` or `save_result`, if made from `key`."""
    path = Path(path)
    if path.is_file() and (saved := read_json(path)).get("key") == key:
        return saved
    return None


def save_result(path: Path, key: Any, result: Any) -> None:
    write_json(Path(path), {"key": key, "result": result})


def cached_result(path: Path, key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()`, or the result saved at `path` by an earlier call with the same `key`.

    Lets a long experiment resume after a crash: each finished part is a JSON file holding its
    inputs (`key`) beside its result, and a part whose inputs changed is computed again.
    """
    if (saved := saved_result(path, key)) is not None:
        return saved["result"]
    result = compute()
    save_result(path, key, result)
    return result
