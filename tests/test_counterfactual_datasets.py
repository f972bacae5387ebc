"""pyvene- and causalab-style counterfactual datasets read into pair sets; a missing field is one line."""

from pathlib import Path

import pytest
import torch

from copy_task import copy_pairs
from mas.errors import MasError
from mas.interop.datasets import causalab_pairs, causalab_records, pyvene_pairs
from mas.lm.pair_files import pair_sets_from_file, read_pair_file
from tiny_lm import WORDS, word_tokenizer
from tiny_lm import write_jsonl as write


def pyvene_rows(pairs) -> list[dict]:
    """The copy task's pairs as a pyvene-style dataset: one source, one label after the last token."""
    return [{"input_ids": base.tolist(), "source_input_ids": [source.tolist()], "labels": int(label[-1]),
             "intervention_id": 0} for base, source, label in zip(pairs.tokens, pairs.source_tokens, pairs.labels)]


def assert_same(a, b) -> None:
    for field in ("source_tokens", "tokens", "labels", "source_positions", "target_positions"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def test_pyvene_rows_and_a_hugging_face_dataset_give_the_task_pairs() -> None:
    datasets = pytest.importorskip("datasets")
    pairs = copy_pairs(50, seed=4)
    rows = pyvene_rows(pairs)
    assert_same(pyvene_pairs(rows, base_position=0, source_position=0), pairs)
    table = datasets.Dataset.from_list(rows)
    assert_same(pyvene_pairs(table, base_position=0, source_position=0), pairs)
    per_row = [dict(row, base_position=2, source_position=-3) for row in rows]
    assert pyvene_pairs(per_row).target_positions.unique().tolist() == [2]
    assert pyvene_pairs(per_row).source_positions.unique().tolist() == [2]


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: {k: v for k, v in r.items() if k != "source_input_ids"}, "pyvene row 1 has no field 'source_input_ids'"),
    (lambda r: dict(r, labels=[1, 2]), "pyvene row 1, field 'labels': one label, or one per base token"),
    (lambda r: dict(r, source_input_ids=[[1], [2]]), "pyvene row 1, field 'source_input_ids': 2 sources"),
    (lambda r: dict(r, base_position=9), "pyvene row 1, field 'base_position'"),
])
def test_bad_pyvene_rows_name_row_and_field(change, message: str) -> None:
    rows = pyvene_rows(copy_pairs(4, seed=4))
    rows[1] = change(rows[1])
    with pytest.raises(MasError, match=message):
        pyvene_pairs(rows)


def test_a_dataset_missing_a_column_is_refused_before_any_row() -> None:
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"input_ids": [[1, 2]], "labels": [3]})
    with pytest.raises(MasError, match=r"the pyvene dataset has no field 'source_input_ids' \(has input_ids, labels\)"):
        pyvene_pairs(table)


CAUSALAB = [
    {"input": {"raw_input": "w1 w2 w3", "x": 1}, "counterfactual_inputs": [{"raw_input": "w4 w5", "x": 2}],
     "label": " w6"},
    {"input": "w7 [[w8]] w9", "counterfactual_inputs": ["w10 w11"], "label": " w12 w13"},
]


def test_causalab_rows_become_the_same_pairs_as_a_pair_file(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    tokenizer = word_tokenizer(WORDS)
    records = causalab_records(CAUSALAB)
    assert records[0] == {"base": "w1 w2 w3", "source": "w4 w5", "expected": " w6"}
    path = write(tmp_path / "pairs.jsonl", records)
    expected = pair_sets_from_file(read_pair_file(path), [tokenizer], ["m"], path, [0, 1])[(0, 0)]
    assert_same(causalab_pairs(CAUSALAB, tokenizer), expected)
    assert expected.target_positions.tolist() == [[2], [1]]
    table = datasets.Dataset.from_list([{"input": r["base"], "counterfactual_inputs": [r["source"]], "label": r["expected"]}
                                        for r in records])
    assert_same(causalab_pairs(table, tokenizer), expected)


@pytest.mark.parametrize(("row", "message"), [
    ({"input": "w1", "counterfactual_inputs": ["w2"]}, "causalab row 0 has no field 'label'"),
    ({"input": {"text": "w1"}, "counterfactual_inputs": ["w2"], "label": " w3"}, "field 'input' has no field 'raw_input'"),
    ({"input": "w1", "counterfactual_inputs": ["w2", "w3"], "label": " w3"}, "2 sources"),
    ({"input": "w1", "counterfactual_inputs": ["w2"], "label": ""}, "field 'expected'"),
])
def test_bad_causalab_rows_name_row_and_field(row: dict, message: str) -> None:
    with pytest.raises(MasError, match=message):
        causalab_records([row])
