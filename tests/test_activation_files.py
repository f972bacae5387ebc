"""`mas similarity --activations`: saved matrices score exactly as the models they came from."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from typer.testing import CliRunner

from mas.cli import app
from mas.experiments.activations import model_activations
from mas.similarity import MEASURES

runner = CliRunner()
SETTINGS = ["--rows", "300", "--repeats", "2", "--json"]


def similarity(*args: object) -> dict:
    result = runner.invoke(app, ["similarity", *map(str, args), *SETTINGS])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])["measures"]


@pytest.fixture(scope="module")
def saved(tiny_gru_folders: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    x, y = model_activations(tiny_gru_folders, ["hidden", "hidden"])
    root = tmp_path_factory.mktemp("activations")
    np.save(root / "a.npy", x.numpy())
    save_file({"hidden": y.numpy()}, str(root / "b.safetensors"))
    return root / "a.npy", root / "b.safetensors"


def test_files_score_as_the_models_did(tiny_gru_folders: list[Path], saved: tuple[Path, Path]) -> None:
    from_files = similarity("--activations", *saved)
    from_models = similarity(*tiny_gru_folders)
    assert set(from_files) == set(MEASURES)
    for name in MEASURES:
        assert from_files[name]["mean"] == pytest.approx(from_models[name]["mean"], abs=1e-9), name
    # Two trained GRUs represent the count alike; unpairing the rows must destroy that.
    shuffled = saved[1].parent / "shuffled.npy"
    b = np.load(saved[0].parent / "a.npy")
    np.save(shuffled, np.random.default_rng(0).permutation(b))
    unpaired = similarity("--activations", saved[0], shuffled)
    assert from_files["cka_linear"]["mean"] > 0.5 > unpaired["cka_linear"]["mean"]


def bad_files(root: Path, good: Path) -> dict[str, tuple[Path, str]]:
    rows = np.load(good)
    cases = {
        "rows": (rows[:-1], "rows must pair up"),
        "nan": (np.where(np.arange(rows.size).reshape(rows.shape) == 5, np.nan, rows), "NaN"),
        "empty": (rows[:0], "empty"),
        "one_d": (rows[:, 0], "2-D"),
        "pickle": (np.array([{"a": 1}] * len(rows), dtype=object), "pickled objects are refused"),
    }
    out = {}
    for name, (array, message) in cases.items():
        np.save(root / f"{name}.npy", array, allow_pickle=True)
        out[name] = (root / f"{name}.npy", message)
    save_file({"x": rows, "y": rows}, str(root / "two.safetensors"))
    out["two"] = (root / "two.safetensors", "holds 2 tensors")
    (root / "a.txt").write_text("1 2")
    out["suffix"] = (root / "a.txt", "must end in")
    return out


def test_bad_activation_files_give_one_line_errors(saved: tuple[Path, Path], tmp_path: Path) -> None:
    for name, (path, message) in bad_files(tmp_path, saved[0]).items():
        result = runner.invoke(app, ["similarity", "--activations", str(saved[0]), str(path)])
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], (name, result.output)
