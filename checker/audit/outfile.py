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

A regular file is then written around the page cache (`O_DIRECT`, `UncachedFile`). Copying a
million rows' 360 MB into newly allocated cache pages cost the writing process 0.5-1.1 s of CPU
on a virtual machine, whose host backs guest memory not touched lately only when it is touched
again (~10 us a page; 0.1 s when the pages were in use a moment before), while the workers
wanted both CPUs. Written directly from one reused 4 MiB buffer, the same bytes cost ~0.01 s of
CPU: the writer only waits on the disk (~2 GB/s here), and the CPU goes to the workers. Where
the file system refuses direct writes, the file is written as any other.
"""

from __future__ import annotations

import errno
import io
import mmap
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
    """`open(target, mode, encoding="utf-8", newline="")`, written uncached where it can be."""
    direct = getattr(os, "O_DIRECT", 0)
    try:
        st = os.stat(target)
    except OSError:
        st = None
    if direct and (st is None or stat.S_ISREG(st.st_mode)):
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | direct | (os.O_EXCL if mode == "x" else os.O_TRUNC)
        try:
            fd = os.open(target, flags, 0o666)
        except OSError as e:
            if e.errno != errno.EINVAL:  # EINVAL: no O_DIRECT on this file system
                raise
        else:
            raw = io.BufferedWriter(UncachedFile(fd, target))
            return io.TextIOWrapper(raw, encoding="utf-8", newline="")
    return open(target, mode, encoding="utf-8", newline="")  # noqa: SIM115 - the writer closes it


ALIGN = 4096  # offsets and lengths of direct writes: a multiple of any disk's logical block
STAGE = 4 << 20  # bytes gathered per direct write


class UncachedFile(io.RawIOBase):
    """A file opened with O_DIRECT, written in whole STAGE-sized writes from one page-aligned
    buffer (what O_DIRECT asks for), the last partial one through the cache at `close`. Bytes
    written reach the file when the buffer fills or at `close`, not at `flush`: the unaligned
    rest could not be written directly. If the file system refuses a direct write, the rest of
    the file is written through the cache."""

    def __init__(self, fd: int, name: str):
        super().__init__()
        self._fd, self.name, self._owner = fd, name, os.getpid()
        self._stage = mmap.mmap(-1, STAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._view = memoryview(self._stage)
        self._fill = 0

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, b) -> int:  # type: ignore[override]
        src = memoryview(b).cast("B")
        n = len(src)
        while src:
            take = min(len(src), STAGE - self._fill)
            self._view[self._fill : self._fill + take] = src[:take]
            self._fill += take
            src = src[take:]
            if self._fill == STAGE:
                self._put(self._view)
                self._fill = 0
        return n

    def _put(self, data: memoryview) -> None:
        while data:
            try:
                done = os.write(self._fd, data)
            except OSError as e:
                if e.errno != errno.EINVAL or not self._cached():
                    raise
                continue
            data = data[done:]

    def _cached(self) -> bool:
        """Write through the cache from now on; False if that was already so."""
        import fcntl  # POSIX only, as O_DIRECT is

        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        if not flags & os.O_DIRECT:
            return False
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        return True

    def close(self) -> None:
        """Write the rest and close; in a process forked from the writer's, only let go of the
        descriptor (the rest is the writer's to write)."""
        if self.closed:
            return
        try:
            if self._fill and os.getpid() == self._owner:
                self._cached()
                self._put(self._view[: self._fill])
        finally:
            self._fill = 0
            self._view.release()
            self._stage.close()
            os.close(self._fd)
            super().close()


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
