"""CLMAS with a recording as the inaccessible model, checked against the model it was recorded from."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mas.adapters import TaskModelAdapter
from mas.adapters.recording import load_recording, record, save_recording
from mas.align import AlignConfig, AlignmentTrainer, Rotations, attach_latents, record_latents
from mas.cli import app
from mas.evaluate import evaluate_iia
from mas.experiments.recorded_clmas import RecordedCLMASJob, fit_recorded_clmas
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs

TASK = MultiObject(max_count=8)
MAPPING = {"count": "count"}
CONFIG = AlignConfig(k=8, steps=200, seed=0)
PAIRS, SEQUENCES = 1024, 400
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tiny_grus: list[TaskModelAdapter], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("recording")
    save_recording(record(tiny_grus[0], "hidden", TASK, SEQUENCES, seed=0), root / "states.npy", root / "labels.csv")
    return root / "states.npy", root / "labels.csv"


def no_access_iia(grus: list[TaskModelAdapter], rotations: Rotations) -> float:
    """Behaviour of the real recorded GRU after GRU 1's count is written into it."""
    trainer = AlignmentTrainer(grus, ["hidden", "hidden"], CONFIG)
    test = build_pairs(TASK, TASK, 300, MAPPING, seed=77)
    return evaluate_iia(trainer, rotations, {(1, 0): test})[(1, 0)].trial


def test_files_alone_align_as_well_as_the_model(tiny_grus: list[TaskModelAdapter], tiny_gru_folders: list[Path],
                                                files: tuple[Path, Path]) -> None:
    job = RecordedCLMASJob(states=files[0], labels=files[1], model=tiny_gru_folders[1], train_pairs=PAIRS, align=CONFIG)
    _, fit, _ = fit_recorded_clmas(load_recording(*files), tiny_grus[1], "hidden", TASK, job, show_progress=False)
    from_files = no_access_iia(tiny_grus, fit.rotations)
    bank = record_latents(tiny_grus[0], "hidden", TASK, SEQUENCES, seed=0)
    pairs = [build_pairs(TASK, TASK, PAIRS, MAPPING, seed=i) for i in range(4)]
    given = AlignmentTrainer(tiny_grus, ["hidden", "hidden"], CONFIG).fit(
        {(1, 1): pairs[0], (0, 1): pairs[1]}, show_progress=False,
        latents={(1, 0): attach_latents(pairs[2], bank, TASK, TASK, MAPPING),
                 (0, 0): attach_latents(pairs[3], bank, TASK, TASK, MAPPING)})
    with_model = no_access_iia(tiny_grus, given.rotations)
    control = no_access_iia(tiny_grus, Rotations([48, 48], seed=5))
    assert from_files >= control + 0.3 and from_files >= with_model - 0.15, (from_files, with_model, control)


def test_command_scores_access_on_held_out_rows(tiny_gru_folders: list[Path], files: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["clmas", str(tiny_gru_folders[1]), "--recordings", str(files[0]), "--labels",
                                 str(files[1]), "--k", "8", "--steps", "5", "--pairs", "128", "--test-pairs", "64",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary["iia"]) == {"0->1", "1->1"}
    assert sorted(p.name for p in out.iterdir()) == ["mas-run.json", "results.json", "rotations.safetensors"]


def test_bad_recordings_give_one_line_errors(tiny_gru_folders: list[Path], files: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    lines = files[1].read_text().splitlines()
    cases = {"field.csv": ("\n".join(lines[:3] + ["2,x"] + lines[4:]), "line 4, field 'phase'"),
             "short.csv": ("\n".join(lines[:-1]), "must pair up"),
             "other.csv": ("\n".join(["size,phase"] + lines[1:]), "no variable 'count'")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text + "\n")
        out = tmp_path / f"run-{name}"
        result = runner.invoke(app, ["clmas", str(tiny_gru_folders[1]), "--recordings", str(files[0]),
                                     "--labels", str(tmp_path / name), "--out", str(out)])
        shown = [line for line in result.output.strip().splitlines() if line.strip()]
        assert result.exit_code == 2 and len(shown) == 1 and message in shown[0], (name, result.output)
        assert not out.exists()
