"""Counterfactual datasets made elsewhere, read into `mas` pairs.

Two shapes are read, each from a list of dicts or a Hugging Face `datasets.Dataset` (its rows are
dicts too, and its columns are checked before any row is read):

- pyvene style, token ids: `input_ids` (the base), `source_input_ids` (one source, or a list holding
  one) and `labels` (the counterfactual answer: one id, scored after the base's last token, or one
  label per base position with -100 where unscored). The swap is at `base_position` and
  `source_position` (token indices, negative from the end), from the row's fields of those names
  where present, else from the arguments.
- causalab style, texts: `input` and `counterfactual_inputs` (a list holding one), each a text or a
  dict with the text under `raw_input`, and the intervened output under a field named by `label`.
  They become the records of a language-model pair file (`mas.lm.pair_files`): written out as JSONL
  they serve `mas lm-align --pairs-file`, or tokenized here into a `PairSet`.

A missing or malformed field is one `MasError` naming the row and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from mas.errors import MasError
from mas.lm.pair_files import pair_set, pair_spec, resolve_pairs
from mas.tasks.pairs import IGNORE, PairSet

PYVENE_FIELDS = ("input_ids", "source_input_ids", "labels")
CAUSALAB_FIELDS = ("input", "counterfactual_inputs")


def _rows(data: Iterable[Mapping[str, Any]], fields: Sequence[str], what: str) -> list[Mapping[str, Any]]:
    """The rows of `data`, each checked to hold `fields`; a Dataset's columns are checked first."""
    columns = getattr(data, "column_names", None)
    if columns is not None:
        for field in fields:
            if field not in columns:
                raise MasError(f"the {what} dataset has no field {field!r} (has {', '.join(columns)})")
    rows = list(data)
    if not rows:
        raise MasError(f"the {what} dataset holds no rows")
    for number, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise MasError(f"{what} row {number}: a dict of fields is needed, got {type(row).__name__}")
        for field in fields:
            if field not in row:
                raise MasError(f"{what} row {number} has no field {field!r} (has {', '.join(map(str, row))})")
    return rows


def _ids(value: Any, where: str) -> list[int]:
    ids = torch.as_tensor(value).flatten().tolist() if not isinstance(value, list) else value
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise MasError(f"{where}: a non-empty list of token ids is needed")
    return ids


def _one(value: Any, where: str) -> Any:
    """The single source of a row that may list several (one per intervention)."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, dict, str, torch.Tensor)):
        if len(value) != 1:
            raise MasError(f"{where}: {len(value)} sources; a pair has one")
        return value[0]
    return value


def _position(row: Mapping[str, Any], name: str, default: int, length: int, where: str) -> int:
    position = row.get(name, default)
    if isinstance(position, torch.Tensor):
        position = int(position)
    if not isinstance(position, int) or isinstance(position, bool) or not -length <= position < length:
        raise MasError(f"{where}, field {name!r}: a token index within the {length} tokens is needed, got {position!r}")
    return position % length


def _padded(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def pyvene_pairs(data: Iterable[Mapping[str, Any]], base_position: int = -1, source_position: int = -1) -> PairSet:
    """A pyvene-style dataset of token ids as a `PairSet`, one swapped position per pair."""
    rows = _rows(data, PYVENE_FIELDS, "pyvene")
    bases, sources, labels, at_base, at_source = [], [], [], [], []
    for number, row in enumerate(rows):
        where = f"pyvene row {number}"
        base = _ids(row["input_ids"], f"{where}, field 'input_ids'")
        source = _ids(_one(row["source_input_ids"], f"{where}, field 'source_input_ids'"),
                      f"{where}, field 'source_input_ids'")
        label = _ids(row["labels"], f"{where}, field 'labels'")
        if len(label) == 1:
            label = [IGNORE] * (len(base) - 1) + label
        elif len(label) != len(base):
            raise MasError(f"{where}, field 'labels': one label, or one per base token ({len(base)}), "
                           f"is needed, got {len(label)}")
        bases.append(base)
        sources.append(source)
        labels.append(label)
        at_base.append(_position(row, "base_position", base_position, len(base), where))
        at_source.append(_position(row, "source_position", source_position, len(source), where))
    return PairSet(source_tokens=_padded(sources, 0), tokens=_padded(bases, 0), labels=_padded(labels, IGNORE),
                   source_positions=torch.tensor(at_source)[:, None], target_positions=torch.tensor(at_base)[:, None])


def _text(value: Any, where: str) -> str:
    if isinstance(value, Mapping):
        if "raw_input" not in value:
            raise MasError(f"{where} has no field 'raw_input' (has {', '.join(map(str, value))})")
        value = value["raw_input"]
    if not isinstance(value, str) or not value:
        raise MasError(f"{where}: a non-empty text is needed")
    return value


def causalab_records(data: Iterable[Mapping[str, Any]], label: str = "label") -> list[dict]:
    """A causalab-style dataset as pair-file records: base, source and the expected continuation."""
    rows = _rows(data, (*CAUSALAB_FIELDS, label), "causalab")
    records = []
    for number, row in enumerate(rows):
        where = f"causalab row {number}"
        source = _one(row["counterfactual_inputs"], f"{where}, field 'counterfactual_inputs'")
        record = {"base": _text(row["input"], f"{where}, field 'input'"),
                  "source": _text(source, f"{where}, field 'counterfactual_inputs'"),
                  "expected": row[label]}
        pair_spec(record, number, where)
        records.append(record)
    return records


def causalab_pairs(data: Iterable[Mapping[str, Any]], tokenizer: Any, label: str = "label",
                   model: str = "model") -> PairSet:
    """A causalab-style dataset tokenized by `tokenizer` as a `PairSet` (the last token of each text swapped)."""
    records = causalab_records(data, label)
    specs = [pair_spec(record, number, f"causalab row {number}") for number, record in enumerate(records)]
    view = resolve_pairs(specs, tokenizer, "causalab dataset", model)
    return pair_set(view, view, range(len(specs)))
