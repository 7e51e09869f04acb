"""Partitions and results cross between processes through `spool` files: what comes back must be
what went in, usable like the original (writable arrays), and the file must not be left behind."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.audit import spool
from checker.audit.spool import spill, unspill


def test_a_partition_comes_back_equal_and_writable(tmp_path):
    rows = pd.DataFrame(
        {
            "_row": np.arange(1, 50_001),
            "patient_id": pd.array([f"P{i // 5}" for i in range(50_000)], dtype="str"),
            "dose": pd.array(["500", "", "1,000", "=cmd"] * 12_500, dtype="str"),
            "weight": np.where(np.arange(50_000) % 7 == 0, np.nan, 70.5),
            "flags": np.arange(50_000) % 3 == 0,
        }
    )
    bad = pd.DataFrame({"_row": [7], "patient_id": ["P1"], "reason": ["expected 10 fields, found 9"]})
    path = str(tmp_path / "job")
    spill((rows, bad), path)
    back_rows, back_bad = unspill(path)
    pd.testing.assert_frame_equal(back_rows, rows)
    pd.testing.assert_frame_equal(back_bad, bad)
    assert not (tmp_path / "job").exists()


def test_arrays_come_back_writable_and_apart_from_the_file(tmp_path):
    sent = np.arange(100_000)
    spill(sent, str(tmp_path / "a"))
    back = unspill(str(tmp_path / "a"))
    back[0] = -1  # code given an array may write into it
    assert back[0] == -1 and sent[0] == 0


def test_rendered_csv_bytes_and_counters_come_back(tmp_path):
    payload = [pa.py_buffer(b"row,severity\n" * 1000), pa.py_buffer(b""), pa.py_buffer('é,"x"\n'.encode())]
    path = str(tmp_path / "out")
    spill((payload, {"major": 3}), path)
    back, counts = unspill(path)
    assert [b.to_pybytes() for b in back] == [b.to_pybytes() for b in payload]
    assert counts == {"major": 3}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=300), max_size=6),
    st.lists(st.text(max_size=20), max_size=50),
    st.lists(st.floats(allow_nan=True), max_size=50),
)
def test_any_mix_of_buffers_and_objects_round_trips(tmp_path_factory, blobs, texts, floats):
    path = str(tmp_path_factory.mktemp("spool") / "x")
    obj = ([pa.py_buffer(b) for b in blobs], texts, np.array(floats, dtype=float))
    spill(obj, path)
    buffers, back_texts, back_floats = unspill(path)
    assert [b.to_pybytes() for b in buffers] == blobs
    assert back_texts == texts
    np.testing.assert_array_equal(back_floats, np.array(floats, dtype=float))


def test_spool_files_go_to_memory_unless_tmpdir_says_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    made = spool.folder("medcheck-test-")
    assert os.path.dirname(made) == str(tmp_path)  # the user's choice wins
    monkeypatch.delenv("TMPDIR")
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(spool, "SHM", str(tmp_path / "no-such-dir"))
    made = spool.folder("medcheck-test-")
    assert os.path.isdir(made) and not made.startswith(str(tmp_path))  # no /dev/shm: the temp dir
    os.rmdir(made)
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(spool, "SHM", str(tmp_path / "shm"))
    monkeypatch.setattr(spool, "SHM_MIN_FREE", 1)
    assert os.path.dirname(spool.folder("medcheck-test-")) == str(tmp_path / "shm")
    monkeypatch.setattr(spool, "SHM_MIN_FREE", 1 << 62)  # not room enough: the temp dir
    made = spool.folder("medcheck-test-")
    os.rmdir(made)
    assert not made.startswith(str(tmp_path))


def test_what_a_killed_run_left_is_removed_by_the_next(tmp_path):
    """A run killed with SIGKILL cannot remove its spool folder (in /dev/shm: memory); the next
    run removes it once it is an hour old and its process is gone, and nothing else."""
    import subprocess
    import sys
    import time

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(gone.stdout)
    old = time.time() - 2 * spool.STALE_SECONDS
    names = {
        "dead_old": f"medcheck-results-{dead_pid}-abc",
        "dead_new": f"medcheck-results-{dead_pid}-def",
        "alive_old": f"medcheck-results-{os.getpid()}-ghi",
        "other": f"something-{dead_pid}-jkl",
    }
    for key, name in names.items():
        d = tmp_path / name
        d.mkdir()
        (d / "3.out").write_bytes(b"x" * 1000)
        if key != "dead_new":
            os.utime(d, (old, old))
    removed = spool.sweep(str(tmp_path), "medcheck-results-")
    assert removed == [str(tmp_path / names["dead_old"])]
    left = sorted(v for k, v in names.items() if k != "dead_old")
    assert sorted(p.name for p in tmp_path.iterdir()) == left
    made = spool.folder("medcheck-results-")
    assert os.path.basename(made).startswith(f"medcheck-results-{os.getpid()}-")
    os.rmdir(made)
