"""Opening the output file, empty, without paying for the file it replaces.

Writing over a large earlier output by truncating it costs twice on ext4 (and file systems like
it), both on the audit's critical path: freeing the old blocks when the file is opened (~0.15 s
for a million rows' 360 MB), and, when it is closed, a forced write-out of the new data
(`auto_da_alloc`: ext4's guard for programs that truncate and rewrite a file) (~0.25 s).

When the old file can be replaced by an equal new one (a regular file of this user and group,
one link, no extended attributes such as ACLs), it is opened, its name removed, and the new
file made with its permission bits; the old blocks are freed when that last descriptor closes,
in a background thread, while the audit reads its input. The close is waited for before any
fork (forked workers would otherwise hold the old file open to their end) and before the
output is closed, so no process ever leaves with it pending. Anything else (a symlink, a
device, another owner's file, a file with hard links) is truncated as before.
"""

from __future__ import annotations

import os
import stat
import threading
from typing import IO

_pending: list[threading.Thread] = []


def open_fresh(target: str) -> IO[str]:
    """`open(target, "w")` (UTF-8, no newline translation), replacing rather than truncating a
    large old file where that changes nothing but the cost (see the module docstring)."""
    old = _replaceable(target)
    if old is None:
        return _open(target, "w")
    try:
        fd = os.open(target, os.O_RDONLY)
    except OSError:
        return _open(target, "w")
    try:
        os.unlink(target)
        stream = _open(target, "x")
    except OSError:  # could not unlink, or another process made the name again meanwhile
        os.close(fd)
        return _open(target, "w")
    os.chmod(stream.fileno(), stat.S_IMODE(old.st_mode))
    closing = threading.Thread(target=os.close, args=(fd,), name="medcheck-free-old-output")
    closing.start()
    _pending.append(closing)
    return stream


def _open(target: str, mode: str) -> IO[str]:
    return open(target, mode, encoding="utf-8", newline="")  # noqa: SIM115 - the writer closes it


BIG = 1 << 20  # below this the old file costs nothing worth a thread


def _replaceable(target: str) -> os.stat_result | None:
    if os.name != "posix":
        return None
    try:
        st = os.lstat(target)
        attrs = os.listxattr(target, follow_symlinks=False) if hasattr(os, "listxattr") else []
    except OSError:
        return None
    plain = stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and not attrs
    ours = st.st_uid == os.geteuid() and st.st_gid == os.getegid()
    return st if plain and ours and st.st_size >= BIG else None


def settle() -> None:
    """Wait for the old outputs' descriptors to close (they free the old blocks)."""
    while _pending:
        _pending.pop().join()


os.register_at_fork(before=settle)
