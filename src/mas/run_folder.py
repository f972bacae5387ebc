"""What may be written where, decided before any compute starts.

Every folder `mas` writes as a whole (a run, a trained model, a fine-tune) holds a marker,
`mas-run.json`, naming the command and the settings that made it. A folder is replaced only when it
is such a run of the same command and settings, or when the user passed `--overwrite`; a folder
`mas` did not write is never emptied otherwise. A run folder's marker also lists the files the run
wrote: a rerun replaces those and keeps whatever else the user put there. Paths are checked (not a
file, not a system folder, writable) before the work, so a bad path costs no compute.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mas.errors import MasError
from mas.io import temporary_path, write_json

MARKER = "mas-run.json"
SYSTEM_FOLDERS = tuple(
    Path(p) for p in ("/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/run")
)

# Folders the user allowed to be replaced (with --overwrite) in this context: a context variable, not a
# module global, so a thread or task of its own starts with none.
_allowed: ContextVar[frozenset[Path]] = ContextVar("mas_overwritable", default=frozenset())


def run_marker(command: str, settings: Any = None) -> dict:
    """The marker of a run: the command and its settings as plain JSON (so equal settings compare equal)."""
    if isinstance(settings, BaseModel):
        settings = settings.model_dump(mode="json")
    return {"command": command, "settings": json.loads(json.dumps(settings, sort_keys=True, default=str))}


def read_marker(folder: Path) -> dict | None:
    """The marker of `folder`, or None where it has none (or an unreadable one)."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and "command" in marker else None


def same_run(old: dict | None, new: dict) -> bool:
    """Whether the marker `old` names the run `new` would write. Settings added to `mas` since `old`
    was written are not compared: the older run had no such choice, so it is the same experiment."""
    if old is None or old.get("command") != new["command"]:
        return False
    return _known(new["settings"], old.get("settings")) == old.get("settings")


def _known(settings: Any, old: Any) -> Any:
    """`settings` without the keys (at any depth) that `old` does not have."""
    if isinstance(settings, dict) and isinstance(old, dict):
        return {k: _known(v, old[k]) for k, v in settings.items() if k in old}
    return settings


def write_marker(folder: Path, command: str, settings: Any = None, files: list[str] | None = None) -> None:
    """Mark `folder` as a run of `command` with `settings`; `files`, the entries the run wrote, are
    listed so that a rerun replaces only those (see `replace_folder`)."""
    marker = run_marker(command, settings)
    if files is not None:
        marker["files"] = sorted({*files, MARKER})
    write_json(Path(folder) / MARKER, marker)


def _is_system_path(path: Path) -> bool:
    return any(path == root or root in path.parents for root in SYSTEM_FOLDERS)


def _protected(path: Path) -> bool:
    """Folders never replaced even with --overwrite: the file system root, home, and where we stand."""
    cwd = Path.cwd().resolve()
    return path == Path(path.anchor) or path == Path.home().resolve() or path == cwd or path in cwd.parents


def check_writable(path: Path, flag: str) -> None:
    """Refuse a path under a system folder, or one whose nearest existing folder above cannot be written
    (outputs are written beside their final name and renamed into place)."""
    resolved = Path(path).resolve()
    if _is_system_path(resolved):
        raise MasError(f"{flag} {path} is inside a system folder; choose a folder of your own")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise MasError(f"{flag} {path} cannot be created: {parent} is a file")
    try:
        Path(tempfile.mkdtemp(dir=parent, prefix=".mas-write-check.")).rmdir()
    except OSError as err:
        raise MasError(f"{flag} {path} cannot be written: {err.strerror or err}") from None


def check_models_dir(path: Path, flag: str = "--models-dir") -> None:
    """Refuse, before any work, a models folder that is a file or lies under one (models missing
    there are trained into it, and the first would fail only once trained)."""
    place = Path(path)
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise MasError(f"{flag} {path} is not a folder: {place} is a file")


def claim_folder(path: Path, command: str, settings: Any = None, *, overwrite: bool = False, flag: str = "--out") -> Path:
    """Check, before any work, that the run folder `path` may be (re)written by this run.

    Allowed: a new or empty folder, or a run of the same command and settings; anything else only
    with `overwrite`, and never the current folder, home or the root.
    """
    path = Path(path)
    resolved = path.resolve()
    check_writable(path, flag)
    if resolved.exists() and not resolved.is_dir():
        raise MasError(f"{flag} {path} is a file, not a folder")
    if resolved.is_dir() and any(resolved.iterdir()):
        marker = read_marker(resolved)
        if not same_run(marker, run_marker(command, settings)):
            if not overwrite:
                what = ("files that mas did not write" if marker is None
                        else f"a '{marker['command']}' run with other settings")
                raise MasError(f"{flag} {path} already holds {what}; pass --overwrite to replace it, or choose another folder")
            if _protected(resolved):
                raise MasError(f"refusing to replace {path}: it is the current folder, one above it, home or the root")
            _allowed.set(_allowed.get() | {resolved})
    return path


# What every row of a table that `mas` appends to carries (see `mas.experiments.sweep.append_row`).
TABLE_ROW_KEYS = ("key", "spec")


def check_table_owner(path: Path, flag: str = "--table") -> None:
    """Refuse, before any work, to append to a JSONL file that `mas` did not start: a missing or empty
    file is new, and a table `mas` started has only rows naming their job (`TABLE_ROW_KEYS`)."""
    path = Path(path)
    if not path.is_file():
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise MasError(f"{flag} {path} is not a text (JSONL) file; choose another file") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or not all(key in row for key in TABLE_ROW_KEYS):
            raise MasError(f"{flag} {path} is not a table that mas started (line {number} is not one of its rows); "
                           "choose another file")


def replaceable(folder: Path) -> bool:
    """Whether an existing `folder` may be replaced: a `mas` run, or one the user allowed."""
    folder = Path(folder)
    return not any(folder.iterdir()) or read_marker(folder) is not None or folder.resolve() in _allowed.get()


def check_replaceable(folder: Path) -> None:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MasError(f"{folder} is a file, not a folder")
    if folder.is_dir() and not replaceable(folder):
        raise MasError(f"{folder} holds files that mas did not write; pass --overwrite to replace it, or choose another folder")


def user_entries(folder: Path, written: set[str]) -> list[Path]:
    """The entries of the run folder `folder` that `mas` did not write: those its marker does not list
    (a marker without a list, from an older `mas`, lists in effect `written`, what the new run writes)."""
    listed = (read_marker(folder) or {}).get("files")
    ours = set(listed) if isinstance(listed, list) else written | {MARKER}
    return [entry for entry in folder.iterdir() if entry.name not in ours]


def replace_folder(staged: Path, final: Path) -> None:
    """Put `staged` at `final`; an old `final` is moved aside first and removed only once the new one is in place.

    Entries of the old run folder that `mas` did not write (a user's notes or plots) are moved into the
    new one, unless the user passed --overwrite for a folder that needed it.
    """
    staged, final = Path(staged), Path(final)
    old, keep = None, []
    if final.exists():
        check_replaceable(final)
        keep = [] if final.resolve() in _allowed.get() else user_entries(final, {e.name for e in staged.iterdir()})
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{os.getpid()}.", suffix=".old"))
        os.replace(final, old / final.name)
    os.replace(staged, final)
    if old is not None:
        for entry in keep:  # moved back after the swap: a crash in between leaves them in `old`, never removed
            if not (final / entry.name).exists():
                os.replace(old / final.name / entry.name, final / entry.name)
        if not any((old / final.name / e.name).exists() for e in keep):
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """Remove `folder` if it did not exist before and a failure (a full disk, a bad setting found late)
    leaves it empty: a failed command leaves no empty output folder behind."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def remove_stale_temporaries(folder: Path, name: str | None = None) -> None:
    """Remove the temporaries `.NAME.PID.*.tmp` (of `name`, or of any file) in `folder` that a killed
    process left behind: those whose PID is no longer running."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.glob(f".{name or '*'}.*.tmp"):
        pid = entry.name[:-4].rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def staged_folder(final: Path, command: str, settings: Any = None) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `final`, on error it vanishes.

    Commands write all their outputs inside it, so a failed run leaves no partial files. The folder
    gets the run marker of `command` and `settings`; an existing `final` is replaced only if it is a
    `mas` run or the user allowed it (see `mas.run_folder`).
    """
    final = Path(final)
    check_replaceable(final)
    remove_stale_temporaries(final.parent, final.name)
    tmp = temporary_path(final, folder=True)
    try:
        yield tmp
        write_marker(tmp, command, settings, files=[entry.name for entry in tmp.iterdir()])
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
