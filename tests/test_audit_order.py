"""Streaming checks the patient order as it reads when the output can be started over.

Output to a regular file is streamed as if sorted, the order verified block by block; when a
patient turns up out of order, even after several partitions have been written, the file is
truncated and the input audited as unsorted input is. The bytes must be those of the runs that
check the order first (output to stdout).
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pandas as pd
import pytest

from checker.audit import read_ahead, sorted_input
from checker.audit import workers as audit_workers
from tests.test_audit_cli import _big, run, write

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


def _sorted_but_last(tmp_path) -> str:
    """Sorted by patient, except one row of an early patient at the very end."""
    drugs = [("acetaminophen", 1000), ("ibuprofen", 800), ("tramadol", 100), ("warfarin", 5)] * 50
    lines = [f"p{i // 3:04d},{d},{dose},mg,oral,q6h\n" for i, (d, dose) in enumerate(drugs)]
    lines.append("p0002,aspirin,81,mg,oral,daily\n")
    return write(tmp_path, "late.csv", "patient_id,drug,dose,unit,route,frequency\n" + "".join(lines))


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(sorted_input, "MIN_BLOCK_BYTES", 256)
    monkeypatch.setattr(sorted_input, "AUTO_CHUNK_ROWS", 20)


def to_file(capsys, tmp_path, name: str, *argv: str) -> tuple[int, str, str]:
    target = tmp_path / name
    code, out, err = run(capsys, *argv, "-o", str(target))
    assert out == ""
    return code, target.read_text(encoding="utf-8"), err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sorted_input_is_read_once(capsys, tmp_path, monkeypatch, small_blocks, workers):
    if workers == "2" and "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    monkeypatch.setattr(audit_workers, "MIN_FORK_BYTES", 0)
    path = _big(tmp_path, shuffle=False)
    lines = open(path).read().splitlines(keepends=True)
    path = write(tmp_path, "sorted.csv", lines[0] + "".join(sorted(lines[1:])))
    whole = run(capsys, path)
    monkeypatch.setattr(sorted_input, "AUTO_STREAM_BYTES", 0)

    def no_pass(*_args):
        raise AssertionError("the order is verified while streaming, not by a pass of its own")

    monkeypatch.setattr(read_ahead, "is_sorted", no_pass)  # the one pass, wherever it runs
    streamed = to_file(capsys, tmp_path, "out.csv", path, "--workers", workers)
    chunked = to_file(capsys, tmp_path, "chunked.csv", path, "--chunksize", "30", "--workers", workers)
    assert streamed[1] == chunked[1] == whole[1] and whole[1].count("\n") > 100
    assert streamed[2].splitlines()[-1] == whole[2].splitlines()[-1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_out_of_order_late_starts_over(capsys, tmp_path, monkeypatch, small_blocks, workers):
    if workers == "2" and "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    monkeypatch.setattr(audit_workers, "MIN_FORK_BYTES", 0)
    path = _sorted_but_last(tmp_path)
    whole = run(capsys, path)  # small: in memory
    chunked_first_checked = run(capsys, path, "--chunksize", "30")  # stdout: order checked first
    monkeypatch.setattr(sorted_input, "AUTO_STREAM_BYTES", 0)
    for suffix in (".csv", ".json"):
        streamed = to_file(capsys, tmp_path, "out" + suffix, path, "--workers", workers)
        expected = (
            whole[1]
            if suffix == ".csv"
            else to_file(capsys, tmp_path, "ref.json", path, "--workers", "1", "--chunksize", "100000")[1]
        )
        assert streamed[0] == 0 and streamed[1] == expected
        assert "not sorted by patient_id" in streamed[2]
    chunked = to_file(capsys, tmp_path, "chunked.csv", path, "--chunksize", "30", "--workers", workers)
    assert chunked[1] == chunked_first_checked[1]
    assert chunked[2].splitlines()[-1] == whole[2].splitlines()[-1]


def test_shuffled_input_to_a_file(capsys, tmp_path, monkeypatch, small_blocks):
    path = _big(tmp_path, shuffle=True)
    whole = run(capsys, path)
    chunked = run(capsys, path, "--chunksize", "40")
    monkeypatch.setattr(sorted_input, "AUTO_STREAM_BYTES", 0)
    assert to_file(capsys, tmp_path, "a.csv", path)[1] == whole[1]
    assert to_file(capsys, tmp_path, "b.csv", path, "--chunksize", "40")[1] == chunked[1]


def test_the_held_patient_is_cut_off_whatever_its_place():
    """The streamed block keeps its last patient for the next one: cut off by slicing when its rows
    end the block (sorted input), by masks otherwise, the same rows either way."""
    df = pd.DataFrame({"_row": [1, 2, 3, 4, 5], "patient_id": ["a", "a", "b", "c", "c"]})
    for keep in ([False, False, False, True, True], [False, True, False, False, True], [False] * 5):
        mask = np.array(keep)
        head, tail = sorted_input._cut(df, mask)
        assert head["_row"].tolist() == df["_row"][~mask].tolist()
        assert tail["_row"].tolist() == df["_row"][mask].tolist()
