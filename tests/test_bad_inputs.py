"""Bad input on the command line is refused before any work: one line on stderr, exit status 2,
`{"error": ...}` as the last stdout line under --json, and nothing created or changed on disk."""

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mas.align import AlignConfig, AlignmentTrainer, Rotations
from mas.cli import app
from mas.commands.models import list_models
from mas.errors import MasError
from mas.evaluate import evaluate_iia
from mas.experiments.alignment import load_task_models
from mas.io import load_tensors, read_json, save_tensors, write_json
from mas.models import TaskModelConfig, save_checkpoint
from mas.run_folder import MARKER, read_marker
from mas.tasks import MultiObject, make_task
from mas.tasks.pairs import build_pairs
from test_cli import align_args

BIG = str(2**63)
runner = CliRunner()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for a folder): what a refused command must not change."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def assert_refused(args: list[str], text: str, folder: Path, json_flag: bool = True) -> None:
    """`mas ARGS` (run in `folder`), with and without --json, ends as the README promises for bad input."""
    before = snapshot(folder)
    for json_out in (False, True) if json_flag else (False,):
        result = runner.invoke(app, [*args, *(["--json"] if json_out else [])])
        assert result.exit_code == 2, result.output
        errors = result.stderr.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: ") and text in errors[0], result.stderr
        assert "--0" not in errors[0]
        lines = result.stdout.strip().splitlines()
        if json_out:
            assert text in json.loads(lines[-1])["error"], result.stdout
        else:
            assert lines == [], result.stdout
        assert snapshot(folder) == before


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, so that default outputs (runs/...) would show up in its snapshot."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# Each command with the arguments it requires; none of the paths exists, since the checks come first.
COMMANDS = {
    "train": ["train", "--out", "m"],
    "align": ["align", "a", "b", "--out", "r"],
    "evaluate": ["evaluate", "r"],
    "clmas": ["clmas", "m", "--recordings", "s.npy", "--labels", "l.csv"],
    "finetune": ["finetune", "base", "--data", "d.txt", "--out", "f"],
    "lm-align": ["lm-align", "a", "b"],
    "same-object-study": ["same-object-study", "m"],
    "similarity": ["similarity", "a", "b"],
    "site-study": ["site-study", "m"],
    "sweep": ["sweep", "a", "b"],
    "figure 2ab": ["figure", "2ab"],
    "figure 2c": ["figure", "2c"],
    "figure 2d": ["figure", "2d"],
    "figure 3a": ["figure", "3a"],
    "figure 3b": ["figure", "3b"],
    "zoo": ["zoo", "a", "b", "--out", "z"],
}
SEED_FLAGS = [
    *((name, "--seed") for name in ("train", "align", "evaluate", "clmas", "finetune", "lm-align", "same-object-study",
                                    "similarity", "site-study", "figure 2ab", "figure 2c", "zoo")),
    *((name, "--seeds") for name in ("sweep", "figure 2ab", "figure 2d", "figure 3a", "figure 3b")),
    ("figure 2ab", "--gru-seeds"), ("figure 2ab", "--transformer-seeds"),
    ("figure 3b", "--model-seeds"),
]


@pytest.mark.parametrize("value", ["-1", BIG])
@pytest.mark.parametrize(("name", "flag"), SEED_FLAGS)
def test_seeds_outside_0_to_2_63_are_refused(here: Path, name: str, flag: str, value: str) -> None:
    value = f"0,{value}" if flag.endswith("seeds") else value
    assert_refused([*COMMANDS[name], flag, value], f"invalid {flag}: ", here)


NON_FINITE = [
    ("train", "--lr", "inf"), ("train", "--lr", "nan"), ("train", "--weight-decay", "inf"),
    ("align", "--lr", "nan"), ("sweep", "--lr", "inf"), ("sweep", "--epsilon", "nan"), ("sweep", "--epsilon", "inf"),
    ("clmas", "--cl-weight", "nan"), ("clmas", "--cl-weight", "-inf"), ("lm-align", "--lr", "inf"),
    ("finetune", "--lr", "nan"), ("figure 2c", "--align-lr", "inf"), ("figure 2d", "--lr", "inf"),
    ("figure 3a", "--epsilon", "nan"), ("figure 3a", "--epsilon", "inf"), ("figure 3b", "--lr", "nan"),
    ("zoo", "--lr", "nan"),
]


@pytest.mark.parametrize(("name", "flag", "value"), NON_FINITE)
def test_numbers_that_are_not_finite_are_refused(here: Path, name: str, flag: str, value: str) -> None:
    assert_refused([*COMMANDS[name], flag, value], f"invalid {flag}: {value} is not a finite number", here)


@pytest.mark.parametrize("grid", ["nan", "0.1,inf"])
def test_an_epsilon_grid_that_is_not_finite_is_refused(here: Path, grid: str) -> None:
    assert_refused([*COMMANDS["figure 3a"], "--epsilon-grid", grid], "finite numbers", here)


USAGE = [
    (["align", "a", "--k", "x"], "Invalid value for '--k'"),
    (["train", "--seed", "1.5"], "Invalid value for '--seed'"),
    (["figure", "2d", "--steps", "many"], "Invalid value for '--steps'"),
    (["align", "a", "--bogus"], "No such option: --bogus"),
    (["align"], "Missing argument"),
    (["clmas", "m"], "Missing option '--recordings'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["align", "a", "b", "--directions", "0->1->0"], "invalid --directions"),
    (["sweep", "a", "b", "--methods", "nosuch"], "invalid --methods"),
    (["figure", "2d", "--methods", "das,clmas"], "invalid --methods"),
]


@pytest.mark.parametrize(("args", "text"), USAGE)
def test_usage_errors_are_one_line(here: Path, args: list[str], text: str) -> None:
    assert_refused(args, text, here, json_flag=args != ["nosuch"])


TRAIN = [
    (["--heldout", "-3"], "--heldout -3: outside the sizes of multi_object (1 to 20)"),
    (["--heldout", "4,999"], "--heldout 999: outside"),
    (["--heldout", "0"], "--heldout 0: outside"),
    (["--task", "modulo", "--heldout", "21"], "outside the sizes of modulo"),
]


@pytest.mark.parametrize(("flags", "text"), TRAIN)
def test_train_refuses_heldout_sizes_the_task_never_draws(here: Path, flags: list[str], text: str) -> None:
    assert_refused([*COMMANDS["train"], *flags], text, here)


FILES = [
    ("empty .npy", ["clmas", "m", "--recordings", "empty.npy", "--labels", "labels.csv"], "cannot read empty.npy"),
    ("latin-1 labels", ["clmas", "m", "--recordings", "states.npy", "--labels", "latin1.csv"],
     "latin1.csv is not UTF-8"),
    ("latin-1 pairs", ["lm-align", "a", "b", "--pairs-file", "latin1.jsonl"], "latin1.jsonl is not UTF-8"),
    ("empty .npy activations", ["similarity", "--activations", "empty.npy", "states.npy"], "cannot read empty.npy"),
]


@pytest.mark.parametrize(("case", "args", "text"), FILES, ids=[case for case, _, _ in FILES])
def test_unreadable_files_are_named(here: Path, case: str, args: list[str], text: str) -> None:
    (here / "empty.npy").write_bytes(b"")
    np.save(here / "states.npy", np.zeros((3, 4), dtype=np.float32))
    (here / "labels.csv").write_text("count\n1\n2\n3\n")
    (here / "latin1.csv").write_bytes("count,note\n1,caf\xe9\n".encode("latin-1"))
    (here / "latin1.jsonl").write_bytes('{"base": "caf\xe9"}\n'.encode("latin-1"))
    assert_refused(args, text, here)


def test_sweep_appends_only_to_a_table_it_started(here: Path) -> None:
    (here / "mydata.jsonl").write_text('{"name": "mine", "value": 1}\n')
    text = "mydata.jsonl is not a table that mas started"
    assert_refused([*COMMANDS["sweep"], "--table", "mydata.jsonl"], text, here)
    (here / "ours.jsonl").write_text('{"key": "k", "spec": "s", "method": "das"}\n{"name": "mine"}\n')
    assert_refused([*COMMANDS["sweep"], "--table", "ours.jsonl"], "line 2 is not one of its rows", here)


TINY_TRAIN = ["train", "--width", "16", "--eval-every", "10", "--max-steps", "20", "--out", "m", "--quiet"]


def test_a_training_that_diverges_stops_and_saves_nothing(here: Path) -> None:
    assert_refused([*TINY_TRAIN, "--lr", "1e30"], "training diverged by step 10", here, json_flag=False)


def test_a_full_disk_leaves_no_model_folder_and_names_the_file(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert_refused(TINY_TRAIN, f"cannot write {Path('m') / 'train_state.safetensors'}: No space left on device", here,
                   json_flag=False)


def test_models_skips_a_checkpoint_with_non_finite_weights(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    for folder in tiny_gru_folders:
        (tmp_path / folder.name).mkdir()
        for f in folder.iterdir():
            (tmp_path / folder.name / f.name).write_bytes(f.read_bytes())
    poisoned = tmp_path / tiny_gru_folders[0].name
    weights = load_tensors(poisoned / "model.safetensors")
    weights[next(iter(weights))][0] = float("inf")
    save_tensors(poisoned / "model.safetensors", weights)
    warnings: list[str] = []
    rows = list_models(tmp_path, warn=warnings.append)
    assert [r["folder"] for r in rows] == [tiny_gru_folders[1].name]
    assert len(warnings) == 1 and "NaN or inf" in warnings[0] and poisoned.name in warnings[0]
    assert torch.isinf(load_tensors(poisoned / "model.safetensors")[next(iter(weights))]).any()


def test_a_rerun_keeps_what_the_user_put_in_its_run_folder(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [*align_args(tiny_gru_folders, out), "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    assert "results.json" in read_marker(out)["files"]
    (out / "my_notes.txt").write_text("notes")
    (out / "my_plots").mkdir()
    (out / "my_plots" / "a.png").write_bytes(b"png")
    (out / "results.json").write_text("{}")  # a file mas wrote is written again
    assert runner.invoke(app, args).exit_code == 0
    assert (out / "my_notes.txt").read_text() == "notes" and (out / "my_plots" / "a.png").read_bytes() == b"png"
    assert read_json(out / "results.json")["k"] == 4
    assert "my_notes.txt" not in read_marker(out)["files"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing moved aside is left behind
    marker = read_marker(out)  # a run of an older mas lists no files: what the new run writes is replaced
    del marker["files"]
    write_json(out / MARKER, marker)
    assert runner.invoke(app, args).exit_code == 0
    assert (out / "my_notes.txt").read_text() == "notes" and (out / "my_plots" / "a.png").is_file()
    assert "my_notes.txt" not in read_marker(out)["files"]


def test_quiet_silences_the_language_model_loading_bars(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from mas.adapters.hf import load_causal_lm
    from mas.progress import quiet
    from tiny_lm import tiny_llama

    tiny_llama(10).save_pretrained(tmp_path / "lm")
    capfd.readouterr()
    load_causal_lm(tmp_path / "lm")
    assert "Loading" in capfd.readouterr().err
    with quiet():
        load_causal_lm(tmp_path / "lm")
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("answer", ["refused", "silent"])
def test_an_unreachable_ray_address_is_given_up_on(here: Path, monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    """A closed port is refused at once; an address that never answers is given up after a stated time."""
    if answer == "silent":
        def silent(address: tuple[str, int], timeout: float) -> None:
            raise TimeoutError

        monkeypatch.setattr("mas.runner.socket.create_connection", silent)
    text = "cannot reach the Ray cluster at 127.0.0.1:1 within 15 s"
    assert_refused([*COMMANDS["sweep"], "--ray-address", "127.0.0.1:1"], text, here)
    assert_refused([*COMMANDS["figure 2ab"], "--ray-address", "ray://127.0.0.1:1"], "within 15 s", here)


@pytest.mark.parametrize("name", ["demo", "figure 2ab", "figure 3b"])
def test_a_models_dir_that_is_a_file_is_refused(here: Path, name: str) -> None:
    (here / "notes.txt").write_text("x")
    command = COMMANDS.get(name, [name])
    assert_refused([*command, "--models-dir", "notes.txt"], "--models-dir notes.txt is not a folder", here)
    assert_refused([*command, "--models-dir", "notes.txt/models"], "notes.txt is a file", here)


def test_figure_2ab_refuses_a_b2_site_before_training(here: Path) -> None:
    assert_refused([*COMMANDS["figure 2ab"], "--b2-site", "nosuch"], "the transformers have no site 'nosuch'", here)
    assert_refused([*COMMANDS["figure 2ab"], "--b2-site", "layers.2"], "no site 'layers.2'", here)


def test_report_refuses_runs_that_are_not_a_folder(here: Path) -> None:
    (here / "README.md").write_text("# notes\n")
    assert_refused(["report", "--runs", "README.md", "--out", "rep"], "--runs README.md is not a folder", here)


def test_site_study_refuses_models_of_two_tasks(here: Path) -> None:
    for task in ("multi_object", "modulo"):
        made = make_task(task)
        config = TaskModelConfig(arch="gru", task=task, vocab_size=made.vocab_size, width=8)
        save_checkpoint(here / task, config.build_model(), config)
    assert_refused(["site-study", "multi_object", "modulo", "--out", "study"],
                   "must share one task: multi_object (multi_object), modulo (modulo)", here)


@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_a_run_whose_k_was_edited_is_refused(tiny_gru_folders: list[Path], tmp_path: Path, command: str) -> None:
    run = tmp_path / "run"
    assert runner.invoke(app, [*align_args(tiny_gru_folders, run), "--quiet"]).exit_code == 0
    results = read_json(run / "results.json")
    write_json(run / "results.json", {**results, "k": results["k"] + 1})
    assert_refused([command, str(run)], "says k = 5 but its rotations were trained with k = 4", tmp_path)


@pytest.fixture(scope="module")
def evaluation(tiny_grus: list) -> tuple:
    """What `evaluate_iia` takes, made right: a trainer over both tiny GRUs, rotations and a few pairs."""
    trainer = AlignmentTrainer(tiny_grus, ["hidden", "hidden"], AlignConfig(k=4, steps=1))
    task = MultiObject(max_count=8)
    return trainer, Rotations(trainer.widths, seed=0), build_pairs(task, task, 8, {"count": "count"}, seed=0)


# Each misuse: what it passes instead, given the right (trainer, rotations, pair set); the words of its error.
MISUSES: list[tuple[str, Callable[..., dict], str]] = [
    ("trainer", lambda t, r, p: {"trainer": "gru"}, "trainer must be an AlignmentTrainer, got str"),
    ("rotations", lambda t, r, p: {"rotations": None}, "rotations must be Rotations"),
    ("widths", lambda t, r, p: {"rotations": Rotations([8, 8], seed=0)}, "do not fit the trainer's sites"),
    ("one set", lambda t, r, p: {"pairs": p}, "pairs must map at least one direction"),
    ("no set", lambda t, r, p: {"pairs": {}}, "pairs must map at least one direction"),
    ("index", lambda t, r, p: {"pairs": {(0, 5): p}}, "direction (0, 5) must be a (source, target) pair of model"),
    ("text", lambda t, r, p: {"pairs": {"0->1": p}}, "direction '0->1' must be"),
    ("list", lambda t, r, p: {"pairs": {(0, 1): [1, 2]}}, "pairs[(0, 1)] must be a non-empty PairSet, got list"),
    ("batch", lambda t, r, p: {"batch_size": 0}, "batch_size must be a positive integer, got 0"),
]


@pytest.mark.parametrize(("case", "wrong", "message"), MISUSES, ids=[case for case, _, _ in MISUSES])
def test_evaluate_iia_says_what_it_expected(evaluation: tuple, case: str, wrong: Callable[..., dict],
                                            message: str) -> None:
    trainer, rotations, pair_set = evaluation
    arguments = {"trainer": trainer, "rotations": rotations, "pairs": {(0, 1): pair_set}, "batch_size": 512}
    with pytest.raises(MasError) as raised:
        evaluate_iia(**{**arguments, **wrong(trainer, rotations, pair_set)})
    assert message in str(raised.value)


@pytest.mark.parametrize("paths", ["runs/models/multi_object-gru-s0", Path("m"), []])
def test_load_task_models_wants_a_list_of_folders(paths: object) -> None:
    with pytest.raises(MasError, match="paths must be a non-empty list of model folders"):
        load_task_models(paths)  # type: ignore[arg-type]
