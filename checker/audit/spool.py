"""Handing partitions and their results between processes through files, without copying them.

A partition's rows (~15 MB of Arrow and NumPy buffers, when the worker does not read them from
the input itself) go to a worker, and its rendered output (~10 MB of CSV line parts) comes back.
Pickled through a pipe, each crosses four copies: into the pickle, into the pipe, out of it, into
the rebuilt object (the last one into freshly zeroed pages). Here an object
is pickled with its large buffers out of band (pickle protocol 5), the buffers written once, raw,
into a file beside the small pickle; the reader maps the file and rebuilds the object over the
mapping, so its arrays are the file's pages and nothing is copied. The mapping is private
(copy-on-write), so rebuilt arrays stay writable, and it lives as long as something uses it;
the file is unlinked as soon as it is mapped.

The files live seconds and are read back at once, so they go to memory-backed /dev/shm when it
has room (`folder`): on a disk file system each would also be block-allocated, journalled and
written back, for nothing (~0.3 s of system time per million rows audited with two workers).
"""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import stat
import struct
import tempfile
import time
from typing import Any

SHM = "/dev/shm"
SHM_MIN_FREE = 1 << 30  # partitions in flight take a few hundred MB: a small (container) one is not used
_LENGTH = struct.Struct("<Q")
_ALIGN = 64  # Arrow's alignment: each buffer starts on it


def folder(prefix: str) -> str:
    """A new folder for spool files: in /dev/shm when it is there, writable and roomy, unless TMPDIR
    names the place for temporary files; else in the temporary directory. Its name holds this
    process's id, so that what a killed run leaves there can be told and removed (`sweep`)."""
    where = None
    if not os.environ.get("TMPDIR"):
        try:
            st = os.statvfs(SHM)
        except OSError:
            st = None
        if st is not None and st.f_bavail * st.f_frsize >= SHM_MIN_FREE and os.access(SHM, os.W_OK):
            where = SHM
    return run_folder(prefix, where)


def run_folder(prefix: str, where: str | None = None) -> str:
    """A new folder in `where` (default: the temporary directory) named for this process, after
    removing those that killed runs left there (`sweep`)."""
    sweep(where or tempfile.gettempdir(), prefix)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=where)


STALE_SECONDS = 3600


def sweep(base: str, prefix: str) -> list[str]:
    """Remove the spool folders of runs that were killed before they could (SIGKILL, the OOM
    killer): in /dev/shm they hold memory, a few hundred MB a run, until the next reboot.

    A folder is taken as abandoned when it is this user's, the process it names is gone, and
    nothing has been added to or taken from it for an hour: a live run adds and removes files
    every few seconds, and the age keeps a run whose process this one cannot see (another PID
    namespace sharing /dev/shm, as containers of one pod do) from losing its files."""
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or now - st.st_mtime < STALE_SECONDS:
            continue
        if _alive(int(pid)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    return True


def _padded(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def spill(obj: Any, path: str) -> None:
    """Write `obj` to `path` for `unspill`."""
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    head = pickle.dumps((len(stream), [r.nbytes for r in raws]), protocol=5)
    with open(path, "wb") as fh:
        fh.write(_LENGTH.pack(len(head)) + head + stream)
        at = _LENGTH.size + len(head) + len(stream)
        for r in raws:
            fh.write(bytes(_padded(at) - at))
            fh.write(r)
            at = _padded(at) + r.nbytes


def unspill(path: str) -> Any:
    """The object `spill` wrote to `path`; the file is removed."""
    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    finally:
        os.unlink(path)
    view = memoryview(data)
    (n_head,) = _LENGTH.unpack_from(view)
    at = _LENGTH.size + n_head
    n_stream, sizes = pickle.loads(view[_LENGTH.size : at])
    stream = view[at : at + n_stream]
    at += n_stream
    buffers = []
    for n in sizes:
        at = _padded(at)
        buffers.append(view[at : at + n])
        at += n
    return pickle.loads(stream, buffers=buffers)
