"""Outputs: nothing the user did not ask to replace is destroyed, and bad paths are refused before any work."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mas.cli import app
from mas.io import read_json, save_tensors, write_json
from mas.run_folder import MARKER, read_marker, staged_folder
from mas.threads import free_cores, set_threads
from test_cli import align_args, assert_one_line_error, run

TINY_TRAIN = ["--task", "multi_object", "--arch", "gru", "--width", "16", "--eval-every", "10"]


def train(out: Path, *flags: str):  # type: ignore[no-untyped-def]
    return run("train", *TINY_TRAIN, "--out", out, *flags)


def test_align_refuses_a_folder_it_did_not_write(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    (out / "sub" / "data.csv").write_text("a,b\n1,2\n")
    result = run(*align_args(tiny_gru_folders, out))
    assert_one_line_error(result, "--overwrite")
    assert (out / "notes.txt").read_text() == "my notes" and (out / "sub" / "data.csv").is_file()
    replaced = run(*align_args(tiny_gru_folders, out, "--overwrite"))
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "notes.txt").exists() and (out / "results.json").is_file()


def test_align_reruns_into_its_own_run_but_not_one_of_other_settings(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run(*align_args(tiny_gru_folders, out)).exit_code == 0
    assert read_marker(out)["command"] == "align"
    assert run(*align_args(tiny_gru_folders, out)).exit_code == 0  # same settings: replaced, as asked
    before = (out / "results.json").read_bytes()
    assert_one_line_error(run(*align_args(tiny_gru_folders, out, k="2")), "other settings")
    assert (out / "results.json").read_bytes() == before


def test_a_run_written_before_a_setting_existed_is_rerun_in_place(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    """A marker without a setting mas has since gained names the same experiment (that choice did not
    exist yet), so the same command reruns into it; a setting that differs still refuses."""
    out = tmp_path / "run"
    assert run(*align_args(tiny_gru_folders, out)).exit_code == 0
    marker = read_marker(out)
    del marker["settings"]["align"]["orthogonal_map"]
    write_json(out / MARKER, marker)
    assert run(*align_args(tiny_gru_folders, out)).exit_code == 0
    marker = read_marker(out)
    assert marker["settings"]["align"]["orthogonal_map"] == "cayley"
    del marker["settings"]["align"]["orthogonal_map"]
    marker["settings"]["align"]["k"] += 1
    write_json(out / MARKER, marker)
    assert_one_line_error(run(*align_args(tiny_gru_folders, out)), "other settings")


@pytest.mark.parametrize("where", ["cwd", "home"])
def test_overwrite_never_replaces_the_current_folder_or_home(
    tiny_gru_folders: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = tmp_path / "place"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    monkeypatch.chdir(target if where == "cwd" else tmp_path)
    monkeypatch.setenv("HOME", str(target))
    assert_one_line_error(run(*align_args(tiny_gru_folders, target, "--overwrite")), "refusing to replace")
    assert (target / "keep.txt").is_file()


def test_train_reuses_its_model_and_refuses_to_replace_one_of_other_settings(tmp_path: Path) -> None:
    out = tmp_path / "model"
    first = train(out, "--max-steps", "20", "--json")
    assert first.exit_code == 0, first.output
    weights = (out / "model.safetensors").read_bytes()
    again = train(out, "--max-steps", "20", "--json")
    assert again.exit_code == 0 and json.loads(again.output.strip().splitlines()[-1])["reused"] is True
    assert_one_line_error(train(out, "--max-steps", "30"), "--overwrite")
    assert (out / "model.safetensors").read_bytes() == weights
    replaced = train(out, "--max-steps", "30", "--overwrite", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.output.strip().splitlines()[-1])["steps"] == 30


def test_train_refuses_a_folder_of_other_files_and_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x")
    assert_one_line_error(train(folder, "--max-steps", "5"), "not a mas model")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(train(a_file, "--max-steps", "5"), "is a file")
    assert a_file.read_text() == "x"


def test_bad_settings_are_refused_with_the_flag_name(tmp_path: Path) -> None:
    assert_one_line_error(train(tmp_path / "m", "--width", "0"), "--width")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kind", ["system", "file", "under-file"])
def test_output_paths_are_checked_before_any_work(tiny_gru_folders: list[Path], tmp_path: Path, kind: str) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    out = {"system": Path("/proc/mas-run"), "file": a_file, "under-file": a_file / "run"}[kind]
    result = run(*align_args(tiny_gru_folders, out, steps="100000"))
    assert_one_line_error(result, str(out))
    assert a_file.read_text() == "x"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no hidden temporaries


def test_sweep_table_that_is_not_a_table_is_refused(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    table = tmp_path / "table.jsonl"
    table.write_bytes(bytes(range(256)))
    result = run("sweep", *map(str, tiny_gru_folders), "--methods", "das", "--ks", "2", "--steps", "2",
                 "--table", table)
    assert_one_line_error(result, "not a text")
    assert table.read_bytes() == bytes(range(256))


def test_json_failure_is_a_json_line(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    result = run(*align_args(tiny_gru_folders, tmp_path / "r", "--json", site="nowhere"))
    assert result.exit_code == 2
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert "unknown site" in last["error"]


def test_models_lists_past_a_corrupt_folder_and_align_refuses_it(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for folder in tiny_gru_folders:
        (models / folder.name).mkdir()
        for f in folder.iterdir():
            (models / folder.name / f.name).write_bytes(f.read_bytes())
    broken = models / "a-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    result = CliRunner().invoke(app, ["models", "--models-dir", str(models), "--json"])
    assert result.exit_code == 0, result.output
    listed = [r["folder"] for r in json.loads(result.stdout.strip().splitlines()[-1])["models"]]
    assert listed == [f.name for f in tiny_gru_folders]
    assert "skipped a-broken" in result.stderr
    assert_one_line_error(run(*align_args([broken, tiny_gru_folders[0]], tmp_path / "r")), "corrupt")


def test_run_folders_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "run", "test") as folder:
            write_json(folder / "results.json", {"a": 1})
            save_tensors(folder / "weights.safetensors", {"w": torch.zeros(3)})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755
    for name in ("results.json", "weights.safetensors"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644
    assert read_json(tmp_path / "run" / MARKER) == {
        "command": "test", "settings": None, "files": [MARKER, "results.json", "weights.safetensors"]
    }


def test_staged_folder_never_replaces_a_folder_mas_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1")
    with pytest.raises(Exception, match="did not write"):
        with staged_folder(tmp_path / "data", "test"):
            pass
    assert (tmp_path / "data" / "x.csv").read_text() == "1"


def test_threads_option_sets_torch_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert set_threads(None, "task") == 1 and torch.get_num_threads() == 1
        assert 1 <= set_threads(None, "lm") <= len(os.sched_getaffinity(0))
        assert 1 <= free_cores() <= len(os.sched_getaffinity(0))
        assert set_threads(2, "task") == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert_one_line_error(run("models", "--threads", "0"), "--threads")


def test_help_lists_tasks_and_sites_and_no_bool_placeholders() -> None:
    train_help = run("train", "--help").output
    assert "same_object" in train_help and "rounding" in train_help
    align_help = run("align", "--help").output
    assert "layers.<i>" in align_help and "<bool>" not in align_help and "--threads" in align_help


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "model"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A learning rate too small to ever solve the task: the run is still going when Ctrl-C comes.
    proc = subprocess.Popen([sys.executable, "-m", "mas", "train", *TINY_TRAIN, "--lr", "1e-9", "--max-steps", "100000",
                             "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # a shell running the suite in the background ignores SIGINT, and children inherit that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "train_state.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "run the same command to resume" in err and "Traceback" not in err
    assert (out / "train_state.json").is_file()
