"""Sweeps: one row per finished job, resumed without redoing rows, bad grids refused up front, contexts shared."""

from pathlib import Path

import pytest

import mas.experiments.sweep as sweep
from mas.errors import MasError
from mas.experiments.sweep import SweepSpec, read_table, run_sweep
from mas.tasks import MultiObject


def tiny_spec(folders: list[Path], **changes: object) -> SweepSpec:
    settings = dict(models=folders, methods=["das", "stitch"], ks=[2], ranks=[2], steps=2, eval_every=2,
                    train_pairs=64, validation_pairs=16, test_pairs=16, latent_sequences=50)
    return SweepSpec(**{**settings, **changes})


def test_sweep_resumes_without_redoing_finished_rows(
    tiny_gru_folders: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "rows.jsonl"
    spec = tiny_spec(tiny_gru_folders)
    rows = run_sweep(spec, table, show_progress=False)
    assert [(r["method"], r["size"]) for r in rows] == [("das", 2), ("stitch", 2)]
    assert set(rows[0]["iia"]) == {"0->0", "1->1"} and set(rows[1]["iia"]) == {"0->1", "1->0"}

    # An interrupted sweep: only the first row made it to the table.
    table.write_text(table.read_text().splitlines(keepends=True)[0])
    ran = []
    real = sweep.run_job
    monkeypatch.setattr(sweep, "run_job", lambda context, job: ran.append(job.method) or real(context, job))
    again = run_sweep(spec, table, show_progress=False)
    assert ran == ["stitch"] and len(again) == 2 and len(read_table(table)) == 2

    # Nothing left to do; other settings are another sweep in the same table.
    ran.clear()
    run_sweep(spec, table, show_progress=False)
    assert ran == []
    run_sweep(tiny_spec(tiny_gru_folders, methods=["das"], steps=3), table, show_progress=False)
    assert ran == ["das"] and len(read_table(table)) == 3


def test_bad_grids_are_refused_before_any_row(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    table = tmp_path / "rows.jsonl"
    with pytest.raises(MasError, match="rank 49"):
        run_sweep(tiny_spec(tiny_gru_folders, ranks=[2, 49]), table, show_progress=False)
    with pytest.raises(MasError, match="larger than"):
        run_sweep(tiny_spec(tiny_gru_folders, ks=[2, 64]), table, show_progress=False)
    assert not table.exists()
    with pytest.raises(MasError, match="inaccessible"):
        tiny_spec(tiny_gru_folders, inaccessible=2)
    with pytest.raises(MasError, match="ε"):
        tiny_spec(tiny_gru_folders, cl_weight=-1.0)


def test_inaccessible_methods_score_access_and_no_access(tiny_gru_folders: list[Path], tmp_path: Path) -> None:
    spec = tiny_spec(tiny_gru_folders, methods=["clmas", "latent_stitch", "behavioural_stitch"], ks=[4], ranks=[48])
    rows = run_sweep(spec, tmp_path / "rows.jsonl", show_progress=False)
    assert [r["method"] for r in rows] == ["clmas", "latent_stitch", "behavioural_stitch"]
    for row in rows:
        assert 0 <= row["access"] <= 1 and 0 <= row["no_access"] <= 1 and row["selected_step"] is not None
    assert rows[0]["latent_pairs"] + rows[0]["latent_pairs_dropped"] == 64
    assert rows[0]["cl_weight"] == 1.0 and "cl_weight" not in rows[2]
    assert all(set(r["validation_iia"]) == set(r["iia"]) for r in rows)  # scored on validation at the kept step


def test_a_lent_context_shares_pairs_and_gives_the_rows_of_a_fresh_one(
    tiny_gru_folders: list[Path], tmp_path: Path
) -> None:
    first = tiny_spec(tiny_gru_folders, methods=["clmas"], ks=[4], cl_weight=1.0)
    context = sweep.SweepContext(first)
    run_sweep(first, tmp_path / "rows.jsonl", show_progress=False, context=context)
    other_weight = tiny_spec(tiny_gru_folders, methods=["clmas"], ks=[4], cl_weight=3.0)
    lent = context.lend(other_weight)
    assert lent.spec == other_weight and lent.pairs(0) is context.pairs(0) and lent.latents(0) is context.latents(0)
    assert context.lend(tiny_spec(tiny_gru_folders, train_pairs=32)).pairs(0) is not context.pairs(0)
    shared = run_sweep(other_weight, tmp_path / "rows.jsonl", show_progress=False, context=context)
    fresh = run_sweep(other_weight, tmp_path / "fresh.jsonl", show_progress=False)
    assert [r["iia"] for r in shared] == [r["iia"] for r in fresh] and shared[0]["cl_weight"] == 3.0


def test_whole_state_pairs_keep_the_phase() -> None:
    task = MultiObject(max_count=8)
    pairs = sweep.whole_state_pairs(sweep.build_pairs(task, task, 100, {"count": "count"}, seed=1), task, {"count": "count"})
    assert 0 < len(pairs) < 100
    for n in range(len(pairs)):
        source = task.trace(sweep.trimmed(pairs.source_tokens[n]))[int(pairs.source_positions[n, 0])]
        target = task.trace(sweep.trimmed(pairs.tokens[n]))[int(pairs.target_positions[n, 0])]
        assert source["phase"] == target["phase"]
