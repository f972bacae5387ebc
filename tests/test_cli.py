"""The `mas` command end to end on tiny models, and its one-line errors for bad input."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mas.cli import app
from mas.io import load_tensors, read_json, save_tensors, write_json

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def align_args(folders: list[Path], out: Path, *flags: str, **options: str) -> list[str]:
    """`mas align` on `folders` with tiny settings; keyword options override them (k="8" -> --k 8)."""
    settings = {"steps": "5", "pairs": "256", "test_pairs": "64", "k": "4", "out": str(out), **options}
    args = ["align", *map(str, folders)]
    for name, value in settings.items():
        args += [f"--{name.replace('_', '-')}", value]
    return args + list(flags)


def assert_one_line_error(result, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and text in lines[0], result.output
    assert "Traceback" not in result.output


def test_align_writes_run_folder_and_json(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(*align_args(tiny_gru_folders, out, "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary["iia"]) == {"0->0", "0->1", "1->0", "1->1"}
    assert all(0.0 <= v <= 1.0 for v in summary["iia"].values())
    assert sorted(p.name for p in out.iterdir()) == ["iia.png", "mas-run.json", "results.json", "rotations.safetensors"]
    saved = read_json(out / "results.json")
    assert saved["iia"] == summary["iia"]
    # Same command, same seed: same IIA.
    again = run(*align_args(tiny_gru_folders, tmp_path / "run2", "--json"))
    assert json.loads(again.output.strip().splitlines()[-1])["iia"] == summary["iia"]


@pytest.mark.parametrize(
    ("option", "message"),
    [({"site": "nowhere"}, "unknown site"), ({"k": "4096"}, "larger than"), ({"directions": "0->7"}, "not there")],
)
def test_align_bad_options(tiny_gru_folders: list[Path], tmp_path: Path, option: dict, message: str) -> None:
    out = tmp_path / "run"
    assert_one_line_error(run(*align_args(tiny_gru_folders, out, **option)), message)
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_unknown_task(tmp_path: Path) -> None:
    assert_one_line_error(run("train", "--task", "juggling", "--out", tmp_path / "m"), "unknown task")


def test_train_reports_each_heldout_size(tmp_path: Path) -> None:
    result = run("train", "--task", "modulo", "--width", "16", "--max-steps", "2", "--heldout", "5,6",
                 "--out", tmp_path / "m", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and list(summary["heldout_by_size"]) == ["5", "6"]
    assert "by size 5:" in result.stdout


@pytest.mark.parametrize(("heldout", "message"), [("4,x", "comma-separated"), (",".join(map(str, range(1, 21))), "held out")])
def test_train_bad_heldout_sizes(tmp_path: Path, heldout: str, message: str) -> None:
    assert_one_line_error(run("train", "--heldout", heldout, "--out", tmp_path / "m"), message)
    assert not (tmp_path / "m").exists()


def test_missing_and_corrupt_checkpoints(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    assert_one_line_error(run(*align_args([tmp_path / "absent"], tmp_path / "r")), "missing model folder")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_gru_folders[0], broken)
    (broken / "model.safetensors").write_bytes(b"\x00garbage")
    assert_one_line_error(run(*align_args([broken], tmp_path / "r")), "corrupt")
    mismatched = tmp_path / "mismatched"
    shutil.copytree(tiny_gru_folders[0], mismatched)
    config = read_json(mismatched / "config.json")
    write_json(mismatched / "config.json", {**config, "width": config["width"] * 2})
    assert_one_line_error(run(*align_args([mismatched], tmp_path / "r")), "does not match its config")
    assert not (tmp_path / "r").exists()


def test_nan_activations(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    poisoned = tmp_path / "nan"
    shutil.copytree(tiny_gru_folders[0], poisoned)
    weights = load_tensors(poisoned / "model.safetensors")
    weights["embed.weight"] = torch.full_like(weights["embed.weight"], float("nan"))
    save_tensors(poisoned / "model.safetensors", weights)
    assert_one_line_error(run(*align_args([poisoned], tmp_path / "r")), "NaN")


def test_empty_dataset(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    result = run(*align_args(tiny_gru_folders, tmp_path / "r", pairs="0"))
    assert_one_line_error(result, "invalid --pairs")
