"""Handing partitions and their results between processes through files, without copying them.

A partition's rows (~15 MB of Arrow and NumPy buffers) go to a worker, and its rendered CSV
(~70 MB) comes back. Pickled through a pipe, each crosses four copies: into the pickle, into the
pipe, out of it, into the rebuilt object (the last one into freshly zeroed pages). Here an object
is pickled with its large buffers out of band (pickle protocol 5), the buffers written once, raw,
into a file beside the small pickle; the reader maps the file and rebuilds the object over the
mapping, so its arrays are the file's pages and nothing is copied. The mapping is private
(copy-on-write), so rebuilt arrays stay writable, and it lives as long as something uses it;
the file is unlinked as soon as it is mapped.
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct
from typing import Any

_LENGTH = struct.Struct("<Q")
_ALIGN = 64  # Arrow's alignment: each buffer starts on it


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
