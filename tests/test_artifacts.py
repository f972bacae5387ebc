"""Saved alignments reused: `mas evaluate` on new pairs and `mas export` of the learned subspaces."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

from mas.adapters import TaskModelAdapter
from mas.align import AlignConfig, AlignmentTrainer
from mas.cli import app
from mas.evaluate import evaluate_iia
from mas.io import read_json
from mas.models import load_checkpoint
from mas.tasks import MultiObject
from mas.tasks.pairs import build_pairs

runner = CliRunner()


def invoke(*args: object) -> dict:
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def run(tiny_gru_folders: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "gru-gru"
    invoke("align", *tiny_gru_folders, "--directions", "0->1,1->0", "--k", "8", "--steps", "200", "--pairs", "1024",
           "--test-pairs", "200", "--out", out)
    return out


class Fixed:
    """Exported bases standing in for trained rotations: the interchange only reads Q[:, :k].

    They hold no parameter layers for the trainer to place on devices (the bases are CPU tensors,
    like the CPU models here).
    """

    layers: tuple = ()

    def __init__(self, bases: list[np.ndarray]) -> None:
        self.bases = [torch.from_numpy(b) for b in bases]

    def matrices(self) -> list[torch.Tensor]:
        return self.bases


def test_evaluate_scores_saved_rotations_on_new_pairs(run: Path) -> None:
    trained = read_json(run / "results.json")
    fresh = invoke("evaluate", run, "--pairs", "300", "--seed", "7")
    assert set(fresh["iia"]) == {"0->1", "1->0"}
    for direction, value in fresh["iia"].items():
        assert value >= 0.6 and value >= fresh["control_iia"] + 0.4, fresh
        assert abs(value - trained["iia"][direction]) <= 0.15, (fresh, trained["iia"])
    assert invoke("evaluate", run, "--pairs", "300", "--seed", "7")["iia"] == fresh["iia"]


def test_export_round_trip_reproduces_iia(run: Path, tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    meta = invoke("export", run, "--out", tmp_path)
    bases = load_file(str(tmp_path / "subspaces.safetensors"))
    assert meta == read_json(tmp_path / "subspaces.json")
    assert meta["k"] == 8 and meta["seed"] == 0 and meta["sites"] == ["hidden", "hidden"]
    assert meta["iia"] == read_json(run / "results.json")["iia"]
    arrays = [bases[name] for name in meta["tensors"]]
    for array, width in zip(arrays, meta["widths"]):
        assert array.shape == (width, 8)
        np.testing.assert_allclose(array.T @ array, np.eye(8), atol=1e-9)
    # The two matrices alone, with the interchange formula in subspaces.json, give the run's scores.
    adapters = [TaskModelAdapter(load_checkpoint(f)[0], name=f.name) for f in tiny_gru_folders]
    trainer = AlignmentTrainer(adapters, ["hidden", "hidden"], AlignConfig(k=8))
    task = MultiObject(max_count=8)
    pairs = build_pairs(task, task, 200, {"count": "count"}, seed=11)
    directions = {(0, 1): pairs, (1, 0): pairs}
    from_file = evaluate_iia(trainer, Fixed(arrays), directions)  # type: ignore[arg-type]
    from_run = invoke("evaluate", run, "--pairs", "200", "--seed", "11")
    assert {f"{s}->{t}": score.trial for (s, t), score in from_file.items()} == from_run["iia"]


def test_bad_run_folders_give_one_line_errors(run: Path, tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text((run / "results.json").read_text())
    (broken / "rotations.safetensors").write_bytes(b"not a tensor file")
    cases = [("evaluate", tmp_path / "nowhere", "no run folder"), ("export", tmp_path, "is not a run"),
             ("export", broken, "corrupt safetensors"), ("evaluate", broken, "corrupt safetensors")]
    for name, folder, message in cases:
        result = runner.invoke(app, [name, str(folder)])
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], (name, result.output)
    assert not (broken / "subspaces.json").exists()


def test_export_never_writes_into_a_folder_of_other_files(run: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "subspaces.json").write_text("my own file")
    result = runner.invoke(app, ["export", str(run), "--out", str(mine)])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "--overwrite" in lines[0], result.output
    assert (mine / "subspaces.json").read_text() == "my own file"
    again = tmp_path / "exported"
    assert invoke("export", run, "--out", again)["k"] == invoke("export", run, "--out", again)["k"]  # its own: rewritten
