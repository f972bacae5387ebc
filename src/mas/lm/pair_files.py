"""Counterfactual pair files for language models: one JSON object per line, resolved per tokenizer.

Fields of a line:
  base      (str) the prompt the target model reads;
  source    (str) the prompt whose state is written into the base's;
  expected  (str) what the base should continue with after the intervention: a token, a word or a
            longer continuation; each of its tokens is scored (teacher-forced), all for a trial;
  base_position, source_position (int, optional, default -1) the token to intervene at: an index
            into that text's tokens, negative from the end. Instead, a span of the text may be
            marked with [[ and ]] (the markers are removed): its last token is used.
Positions are resolved with each model's own tokenizer, so models with different tokenizers can be
compared on one file. Every problem names the file, the line and the field.

Example files ship in `mas/lm/examples/` and are named by their stem (`capitals`): see
`scripts/capital_pairs.py`, which writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from mas.errors import MasError
from mas.tasks.pairs import IGNORE, PairSet

OPEN, CLOSE = "[[", "]]"
EXAMPLES = Path(__file__).with_name("examples")


def examples() -> list[str]:
    """Names of the pair files shipped with the package."""
    return sorted(p.stem for p in EXAMPLES.glob("*.jsonl"))


def pair_file_path(value: str | Path) -> Path:
    """A pair file's path: `value` itself when it names a file, else the shipped example of that name."""
    path = Path(value)
    if path.is_file() or path.suffix or len(path.parts) > 1:
        return path
    shipped = EXAMPLES / f"{value}.jsonl"
    if not shipped.is_file():
        raise MasError(f"missing pair file: {value} (not a file, nor a shipped example: {', '.join(examples())})")
    return shipped


@dataclass(frozen=True)
class Side:
    """One prompt of a pair: its text without markers and where to intervene in it."""

    text: str
    position: int | None  # token index (negative from the end) when no span is marked
    span_end: int | None  # character offset where a marked span ends


@dataclass(frozen=True)
class PairSpec:
    line: int
    base: Side
    source: Side
    expected: str


def _side(record: dict, name: str, where: str) -> Side:
    text = record.get(name)
    if not isinstance(text, str) or not text:
        raise MasError(f"{where}, field {name!r}: a non-empty string is needed")
    position = record.get(f"{name}_position")
    if OPEN in text or CLOSE in text:
        start, end = text.find(OPEN), text.find(CLOSE)
        if start < 0 or end < start + len(OPEN) + 1 or text.count(OPEN) != 1 or text.count(CLOSE) != 1:
            raise MasError(f"{where}, field {name!r}: mark one non-empty span as [[...]]")
        if position is not None:
            raise MasError(f"{where}, field {name}_position: give a position or a marked span, not both")
        clean = text[:start] + text[start + len(OPEN) : end] + text[end + len(CLOSE) :]
        return Side(clean, None, end - len(OPEN))
    if position is None:
        position = -1
    if not isinstance(position, int) or isinstance(position, bool):
        raise MasError(f"{where}, field {name}_position: an integer token index is needed, got {position!r}")
    return Side(text, position, None)


def pair_spec(record: Any, number: int, where: str) -> PairSpec:
    """One checked pair from a record with the fields of a pair file's line; `where` names it in errors."""
    if not isinstance(record, dict):
        raise MasError(f"{where}: a JSON object is needed")
    unknown = set(record) - {"base", "source", "expected", "base_position", "source_position"}
    if unknown:
        raise MasError(f"{where}, field {sorted(unknown)[0]!r}: unknown field")
    expected = record.get("expected")
    if not isinstance(expected, str) or not expected:
        raise MasError(f"{where}, field 'expected': a non-empty string is needed")
    return PairSpec(number, _side(record, "base", where), _side(record, "source", where), expected)


def read_pair_file(path: Path) -> list[PairSpec]:
    """Every pair of a JSONL file, checked; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise MasError(f"missing pair file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise MasError(f"{path} is not UTF-8 text (byte {err.start}); save the pairs as UTF-8 JSONL") from None
    specs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record: Any = json.loads(line)
        except json.JSONDecodeError as err:
            raise MasError(f"{where}: not JSON ({err.msg})") from None
        specs.append(pair_spec(record, number, where))
    if not specs:
        raise MasError(f"{path} holds no pairs")
    return specs


def _resolve(tokenizer: Any, side: Side, where: str) -> tuple[list[int], int]:
    """Token ids of a prompt and the index of the token to intervene at."""
    encoded = tokenizer(side.text, return_offsets_mapping=side.span_end is not None)
    ids = list(encoded["input_ids"])
    if side.span_end is not None:
        inside = [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if b > a and a < side.span_end]
        return ids, inside[-1]
    if not -len(ids) <= side.position < len(ids):
        raise MasError(f"{where}: position {side.position} is outside the {len(ids)} tokens of the text")
    return ids, side.position % len(ids)


@dataclass
class Resolved:
    """One model's view of every pair: its source and target token ids, positions and labels."""

    source: list[tuple[list[int], int]]
    target: list[tuple[list[int], int, list[int]]]


def resolve_pairs(specs: Sequence[PairSpec], tokenizer: Any, path: Path, model: str) -> Resolved:
    """Tokenize every pair with one model's tokenizer."""
    sources, targets = [], []
    for spec in specs:
        where = f"{path} line {spec.line}"
        sources.append(_resolve(tokenizer, spec.source, f"{where}, field 'source' ({model})"))
        base, position = _resolve(tokenizer, spec.base, f"{where}, field 'base' ({model})")
        full = list(tokenizer(spec.base.text + spec.expected)["input_ids"])
        if full[: len(base)] != base or len(full) == len(base):
            raise MasError(f"{where}, field 'expected': the tokenizer of {model} does not keep the base's tokens "
                           "when the expected text is appended (start it with a space?)")
        labels = [IGNORE] * (len(base) - 1) + full[len(base) :] + [IGNORE]
        targets.append((full, position, labels))
    return Resolved(sources, targets)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def pair_set(source: Resolved, target: Resolved, index: Sequence[int]) -> PairSet:
    """Pairs `index` from the source model's tokens into the target model's: one position each."""
    return PairSet(
        source_tokens=_pad([source.source[i][0] for i in index], 0),
        tokens=_pad([target.target[i][0] for i in index], 0),
        labels=_pad([target.target[i][2] for i in index], IGNORE),
        source_positions=torch.tensor([[source.source[i][1]] for i in index]),
        target_positions=torch.tensor([[target.target[i][1]] for i in index]),
    )


def pair_sets_from_file(
    specs: Sequence[PairSpec], tokenizers: Sequence[Any], models: Sequence[str], path: Path, index: Sequence[int]
) -> dict[tuple[int, int], PairSet]:
    """The pairs `index` of a file for every direction (s, t) between the models."""
    if not index:
        raise MasError(f"no pairs of {path} left for this split")
    views = [resolve_pairs(specs, tok, path, model) for tok, model in zip(tokenizers, models)]
    n = len(views)
    return {(s, t): pair_set(views[s], views[t], index) for s in range(n) for t in range(n)}
