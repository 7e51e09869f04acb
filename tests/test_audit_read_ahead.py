"""The reader forked before the engine loads (checker/audit/read_ahead.py): the same findings as
when the workers read their own spans, the unsorted case handed back, nothing left behind."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys

import pytest

from checker.audit import read_ahead, sorted_input, spool
from checker.audit import workers as audit_workers
from tests.test_audit_cli import _big, run, write

pytestmark = [
    pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


@pytest.fixture
def readers(monkeypatch):
    """Small blocks, forking for any input, and the readers started, as they were made."""
    monkeypatch.setattr(sorted_input, "MIN_BLOCK_BYTES", 256)
    monkeypatch.setattr(audit_workers, "MIN_FORK_BYTES", 0)
    made: list[read_ahead.ReadAhead] = []
    real = read_ahead.ReadAhead.__init__

    def init(self, *args):
        real(self, *args)
        made.append(self)

    monkeypatch.setattr(read_ahead.ReadAhead, "__init__", init)
    return made


def _sorted(tmp_path) -> str:
    lines = open(_big(tmp_path, shuffle=False)).read().splitlines(keepends=True)
    return write(tmp_path, "sorted.csv", lines[0] + "".join(sorted(lines[1:])))


def _to_file(capsys, tmp_path, name: str, *argv: str) -> tuple[int, str, str]:
    target = tmp_path / name
    code, out, err = run(capsys, *argv, "-o", str(target))
    return code, target.read_text(encoding="utf-8"), err


def _left(pid: int) -> list[str]:
    base = spool.SHM if os.path.isdir(spool.SHM) else "/tmp"
    return [n for n in os.listdir(base) if n.startswith(f"medcheck-ahead-{pid}-")]


def test_spans_read_ahead_give_the_findings_of_spans_read_by_the_workers(capsys, tmp_path, readers):
    path = _sorted(tmp_path)
    alone = _to_file(capsys, tmp_path, "one.csv", path, "--chunksize", "30", "--workers", "1")
    ahead = _to_file(capsys, tmp_path, "two.csv", path, "--chunksize", "30", "--workers", "2")
    assert len(readers) == 1  # --workers 1: no reader
    assert ahead == alone and alone[1].count("\n") > 100
    assert not _left(os.getpid())


def test_unsorted_input_found_by_the_reader_is_audited_as_unsorted(capsys, tmp_path, readers):
    path = _big(tmp_path, shuffle=True)
    alone = _to_file(capsys, tmp_path, "one.csv", path, "--chunksize", "40", "--workers", "1")
    ahead = _to_file(capsys, tmp_path, "two.csv", path, "--chunksize", "40", "--workers", "2")
    assert len(readers) == 1
    assert ahead[0] == alone[0] == 0 and ahead[1] == alone[1]
    assert not _left(os.getpid())


@pytest.mark.parametrize("shuffle", [False, True])
def test_to_stdout_the_reader_checks_the_order_before_anything_is_written(capsys, tmp_path, readers, shuffle):
    """Output that cannot be started over waits for the order: the reader's pass says it, and
    reads spans only for sorted input."""
    path = _big(tmp_path, shuffle=True) if shuffle else _sorted(tmp_path)
    alone = run(capsys, path, "--chunksize", "30", "--workers", "1")
    ahead = run(capsys, path, "--chunksize", "30", "--workers", "2")
    assert ahead == alone and alone[0] == 0 and alone[1].count("\n") > 100
    assert [r.verdict for r in readers] == [not shuffle]
    assert not _left(os.getpid())


def test_no_reader_where_the_run_does_not_stream_to_workers(capsys, tmp_path, readers):
    path = _sorted(tmp_path)
    _to_file(capsys, tmp_path, "small.csv", path, "--workers", "2")  # small input: read whole
    _to_file(capsys, tmp_path, "one.csv", path, "--chunksize", "30", "--workers", "1")
    refused = run(capsys, path, "--chunksize", "30", "--workers", "0", "-o", str(tmp_path / "no.csv"))
    assert refused[0] == 2 and readers == []


def test_a_reader_that_dies_is_reported_not_waited_for(capsys, tmp_path, readers, monkeypatch):
    monkeypatch.setattr(read_ahead, "DEPTH", 1)
    path = _sorted(tmp_path)
    real = read_ahead.ReadAhead.jobs

    def jobs(self):
        for n, job in enumerate(real(self)):
            if n == 0:
                os.kill(self.pid, signal.SIGKILL)
            yield job

    monkeypatch.setattr(read_ahead.ReadAhead, "jobs", jobs)
    code, _, err = _to_file(capsys, tmp_path, "out.csv", path, "--chunksize", "10", "--workers", "2")
    assert code == 2 and "the process reading it stopped unexpectedly" in err
    assert not _left(os.getpid())


def test_the_reader_starts_before_the_engine_loads():
    """What the reader needs (pandas, the reading code) loads without pint, the knowledge and the
    rules, which load in the command's process while the reader works."""
    code = (
        "import sys, checker.audit.read_ahead\n"
        "print(sorted(m for m in ('pint', 'checker.engine', 'rules') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
