"""A recording as the inaccessible side of an alignment: states we can read but never run on.

`load_recording` reads the states (`.npy` without pickles, or one-tensor `.safetensors`, rows ×
units) and a CSV of the causal variables' values, one row per state under a header of variable
names. `RecordingAdapter` serves the states to the trainer; token r + 1 reads row r. `record` and
`save_recording` make such files from a model `mas` can run, to test what a recording alone allows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.errors import MasError
from mas.io import atomic_write_bytes
from mas.similarity.files import load_activations
from mas.tasks.base import PAD, CausalModel

SITE = "recorded"


@dataclass
class Recording:
    """States (M, d) and, per causal variable, its integer value at each of the M rows."""

    states: torch.Tensor
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return self.states.shape[0]


def read_labels(path: Path) -> dict[str, np.ndarray]:
    """Integer columns of a CSV with a header; errors name the line and the field."""
    path = Path(path)
    if not path.is_file():
        raise MasError(f"missing labels file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise MasError(f"{path} is not UTF-8 text (byte {err.start}); save the labels as a UTF-8 CSV") from None
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or any(not name.strip() for name in reader.fieldnames):
            raise MasError(f"{path} line 1: a header of variable names is needed, e.g. 'count,phase'")
        columns: dict[str, list[int]] = {name: [] for name in reader.fieldnames}
        for row in reader:
            for name in reader.fieldnames:
                value = row.get(name)
                try:
                    columns[name].append(int(value))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    raise MasError(f"{path} line {reader.line_num}, field {name!r}: {value!r} is not an integer") from None
    if not columns[reader.fieldnames[0]]:
        raise MasError(f"{path} has a header but no rows")
    return {name: np.asarray(values) for name, values in columns.items()}


def load_recording(states: Path, labels: Path) -> Recording:
    """A checked recording: as many label rows as state rows."""
    matrix = load_activations(states)
    values = read_labels(labels)
    rows = len(next(iter(values.values())))
    if rows != matrix.shape[0]:
        raise MasError(f"{states} has {matrix.shape[0]} rows but {labels} has {rows}; they must pair up")
    return Recording(torch.from_numpy(np.asarray(matrix, dtype=np.float32)), values)


class RecordingAdapter(ModelAdapter):
    """Recorded states at one site, `recorded`; reading is all a recording allows."""

    def __init__(self, recording: Recording, name: str = "recording") -> None:
        self.recording = recording
        self.name = name

    @property
    def sites(self) -> tuple[str, ...]:
        return (SITE,)

    def width(self, site: str) -> int:
        self.check_site(site)
        return self.recording.states.shape[1]

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        return self.recording.states[(tokens - 1).clamp(min=0)]

    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        raise MasError(f"{self.name} is a recording: it can be read, not run or intervened on")


def record(adapter: ModelAdapter, site: str, task: CausalModel, n_sequences: int, seed: int = 0) -> Recording:
    """A model's states at `site` over `n_sequences` sequences of `task`, every position a row, with
    the task's variables after its token: what a recording of a system running the task would hold."""
    if n_sequences < 1:
        raise MasError("a recording needs at least one sequence")
    rng = np.random.default_rng([seed, 41])
    sequences = [task.sample(rng) for _ in range(n_sequences)]
    width = max(len(s) for s in sequences)
    states = adapter.read(site, torch.tensor([s + [PAD] * (width - len(s)) for s in sequences]))
    rows = [states[b, : len(s)] for b, s in enumerate(sequences)]
    traces = [state for s in sequences for state in task.trace(s)]
    labels = {v: np.array([state[v] for state in traces]) for v in task.variables}
    return Recording(torch.cat(rows).cpu(), labels)


def save_recording(recording: Recording, states: Path, labels: Path) -> None:
    """The states as `.npy` and the labels as CSV, each written atomically."""
    buffer = io.BytesIO()
    np.save(buffer, recording.states.numpy(), allow_pickle=False)
    atomic_write_bytes(Path(states), buffer.getvalue())
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(recording.labels)
    writer.writerows(zip(*recording.labels.values()))
    atomic_write_bytes(Path(labels), text.getvalue().encode())
