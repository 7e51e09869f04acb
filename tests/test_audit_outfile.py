"""Writing over an earlier output: the same file for the user (content, permissions, links), and
the old one's blocks freed off the audit's critical path (see checker/audit/outfile.py)."""

from __future__ import annotations

import os
import sys

import pytest

from checker.audit import outfile

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file semantics")


def _old(path, size=outfile.BIG + 10, mode=0o600):
    path.write_bytes(b"x" * size)
    os.chmod(path, mode)
    return os.stat(path)


def _deleted_fds(path) -> list[str]:
    if not os.path.isdir("/proc/self/fd"):
        return []
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith(str(path)) and link.endswith("(deleted)"):
            out.append(link)
    return out


def test_a_large_old_output_is_replaced_with_its_permissions_and_nothing_left(tmp_path):
    target = tmp_path / "findings.csv"
    before = _old(target)
    with outfile.open_fresh(str(target)) as fh:
        fh.write("patient_id,rows\n")
    outfile.settle()
    after = os.stat(target)
    assert target.read_text() == "patient_id,rows\n"
    assert after.st_mode & 0o7777 == 0o600  # a private output stays private
    assert after.st_ino != before.st_ino  # replaced, not truncated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.csv"]
    assert not _deleted_fds(target)  # the old file's blocks are freed


def test_the_old_file_is_let_go_before_a_fork(tmp_path):
    """Forked workers must not keep the old file open (its blocks would stay in use to their end)."""
    target = tmp_path / "findings.csv"
    _old(target, size=64 << 20)
    fh = outfile.open_fresh(str(target))
    pid = os.fork()
    if pid == 0:
        os._exit(0 if not _deleted_fds(target) else 1)
    _, status = os.waitpid(pid, 0)
    fh.close()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_fork_waits_for_the_old_file_to_be_let_go():
    """The at-fork hook joins pending closes: a close still running holds the fork back."""
    import threading
    import time

    gate = threading.Event()
    closing = threading.Thread(target=gate.wait)
    closing.start()
    outfile._pending.append(closing)
    threading.Timer(0.3, gate.set).start()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    waited = time.monotonic() - start
    os.waitpid(pid, 0)
    assert waited >= 0.25 and not outfile._pending


def test_what_cannot_be_replaced_alike_is_truncated_in_place(tmp_path):
    """A symlink is written through, hard links all see the new content, a small file is simply
    truncated: as `open(path, "w")` does."""
    real = tmp_path / "real.csv"
    _old(real)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with outfile.open_fresh(str(link)) as fh:
        fh.write("via link\n")
    assert link.is_symlink() and real.read_text() == "via link\n"

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    _old(first)
    os.link(first, second)
    with outfile.open_fresh(str(first)) as fh:
        fh.write("both\n")
    assert second.read_text() == "both\n"

    small = tmp_path / "small.csv"
    ino = _old(small, size=10).st_ino
    with outfile.open_fresh(str(small)) as fh:
        fh.write("s\n")
    assert os.stat(small).st_ino == ino and small.read_text() == "s\n"
    outfile.settle()


def test_the_command_overwrites_its_earlier_output(tmp_path):
    """`medcheck audit ... -o out.csv` twice: the second output stands alone, permissions kept."""
    import subprocess

    meds = tmp_path / "meds.csv"
    meds.write_text("patient_id,drug,dose,unit,frequency\n" + "P1,tramadol,500,mg,q6h\n" * 20)
    out = tmp_path / "out.csv"
    _old(out, mode=0o640)
    cmd = [sys.executable, "-m", "checker", "audit", str(meds), "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith("patient_id,rows,") and "x" * 20 not in text
    assert os.stat(out).st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meds.csv", "out.csv"]


@pytest.mark.parametrize(
    "sizes",
    [
        [0, 10],
        [outfile.ALIGN - 1, 1, outfile.ALIGN + 1],
        [outfile.STAGE - 7, 7, 3],  # exactly one full buffer, then a tail
        [2 * outfile.STAGE + 123, 5, outfile.STAGE],  # a piece larger than the buffer
    ],
)
def test_an_output_written_in_any_pieces_holds_exactly_those_bytes(tmp_path, sizes):
    """Whole buffers go to the file directly, the unaligned rest through the cache at close."""
    target = tmp_path / "out.csv"
    pieces = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    with outfile.open_fresh(str(target)) as fh:
        fh.write("head\n")
        for p in pieces:
            fh.flush()
            fh.buffer.write(p)
        fh.write("tail\n")
    assert target.read_bytes() == b"head\n" + b"".join(pieces) + b"tail\n"


def test_a_forked_process_letting_go_of_the_output_adds_nothing(tmp_path):
    """Workers inherit the open output; whatever they do with it, only the writer's bytes land."""
    target = tmp_path / "out.csv"
    fh = outfile.open_fresh(str(target))
    fh.write("mine\n")
    pid = os.fork()
    if pid == 0:
        fh.write("not mine\n")
        fh.close()
        os._exit(0)
    os.waitpid(pid, 0)
    fh.close()
    assert target.read_text() == "mine\n"
