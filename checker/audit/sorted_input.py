"""Input sorted by patient_id, read in bounded memory: each patient's rows kept together.

`stream_units` (one process) hands on each block but its last patient, who continues into the next
block; `stream_spans` (several workers) cuts the file at the same places without reading it, into
spans the workers read themselves. With `verify` the order is checked as the file streams (a pass
of its own otherwise, `is_sorted`), and `Unsorted` tells the caller to start over another way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .reading import Layout, Span, iter_blocks, iter_layouts, read_rows
from .source import Source


def pid_keys(s: pd.Series) -> np.ndarray:
    """Patient ids as `audit_rows` keys them: stripped, missing as empty."""
    return s.fillna("").astype(str).str.strip().to_numpy(dtype=object)


def is_sorted(src: Source, block_bytes: int) -> bool:
    """Are the rows ordered by patient_id? One cheap pass: the blocks are scanned as for the audit
    (same rows, same bad rows) but only the patient_id column is turned into values."""
    check = OrderCheck()
    return all(check(b.rows, b.bad) for b in iter_blocks(src, block_bytes, only=("patient_id",)))


class OrderCheck:
    """Block by block, in file order: are all rows so far (read or not) in patient_id order?"""

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, rows: pd.DataFrame, bad: pd.DataFrame) -> bool:
        return self.ids(pid_keys(rows["patient_id"]), pid_keys(bad["patient_id"]), rows, bad)

    def ids(self, ids_r: np.ndarray, ids_b: np.ndarray, rows: pd.DataFrame, bad: pd.DataFrame) -> bool:
        """The same, given the rows' and bad rows' patient ids (`_pid`)."""
        ids = np.concatenate([ids_r, ids_b])
        order = np.concatenate([rows["_row"].to_numpy(), bad["_row"].to_numpy()])
        ids = ids[np.argsort(order, kind="stable")]
        if not len(ids):
            return True
        if self.last is not None and ids[0] < self.last or bool(np.any(ids[1:] < ids[:-1])):
            return False
        self.last = ids[-1]
        return True


class Unsorted(Exception):
    """A stream that was to verify the order (Options.order "verify") found a patient out of it.
    Raised before that block's rows are handed on; the caller starts over another way."""


AUTO_STREAM_BYTES = 32 << 20  # above this, input sorted by patient is streamed in bounded memory
AUTO_CHUNK_ROWS = 200_000  # ... in blocks of about this many rows


def block_size(src: Source, chunksize: int) -> int:
    with open(src.path, "rb") as fh:
        fh.seek(src.header_bytes)
        sample = fh.read(1 << 20)
    per_line = len(sample) / max(1, sample.count(b"\n"))
    return max(MIN_BLOCK_BYTES, int(chunksize * per_line))


MIN_BLOCK_BYTES = 1 << 16


def stream_units(
    src: Source, block_bytes: int, workers: int = 1, verify: bool = False
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, int]]:
    """Sorted input: each block but its last patient, who continues into the next block.

    With `verify` the order is checked block by block as it streams (`Unsorted` if it fails),
    instead of by a pass of its own before: the file is read once.

    For several workers the blocks are `guided`: smaller at the start and the end, so that the
    workers start soon and finish together; the output is the same for any block sizes."""
    held_rows, held_bad = None, None
    held_r = held_b = np.empty(0, dtype=object)  # the held rows' patient ids
    check = OrderCheck() if verify else None
    for b in iter_blocks(src, guided(src, block_bytes, workers) if workers > 1 else block_bytes):
        ids_r, ids_b = pid_keys(b.rows["patient_id"]), pid_keys(b.bad["patient_id"])
        if check is not None and not check.ids(ids_r, ids_b, b.rows, b.bad):
            raise Unsorted(src.name)
        rows = b.rows if held_rows is None else pd.concat([held_rows, b.rows], ignore_index=True)
        bad = b.bad if held_bad is None else pd.concat([held_bad, b.bad], ignore_index=True)
        ids_r, ids_b = np.concatenate([held_r, ids_r]), np.concatenate([held_b, ids_b])
        if not len(ids_r) + len(ids_b):
            continue
        if b.bytes_done >= src.size:  # the file's last block: its last patient ends here
            held_rows = None
            yield rows, bad, b.bytes_done
            break
        last = max(np.concatenate([ids_r, ids_b]))
        keep_r, keep_b = ids_r == last, ids_b == last
        (rows, held_rows), (bad, held_bad) = _cut(rows, keep_r), _cut(bad, keep_b)
        held_r, held_b = ids_r[keep_r], ids_b[keep_b]
        yield rows, bad, b.bytes_done
    if held_rows is not None:
        yield held_rows, held_bad, src.size


def guided(src: Source, block_bytes: int, workers: int) -> Callable[[int], int]:
    """Block sizes for several workers, by the bytes read so far (see `stream_units`).

    The first blocks are half a block, then grow to the whole of one, so that the workers start
    without waiting for a whole block to be laid out; towards the end a block is a `workers`-th of
    what is left (at least half a block), so that the workers' last partitions end about together;
    a rest of under half the block before it goes with that block (if they make a block at most).
    Each partition costs a worker ~40-70 ms whatever its size (frames, plans, keys seen again), so
    the blocks stay few: a million rows are seven of them."""
    least = block_bytes // 2

    def size(done: int) -> int:
        rest = src.size - done
        n = max(least, min(block_bytes, done - src.header_bytes, rest // workers))
        return rest if rest < n * 3 // 2 and rest <= block_bytes else n

    return size


def _cut(df: pd.DataFrame, keep: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`df` without, and with, the rows `keep` marks. In sorted input those (the held patient's)
    end the block: then they are cut off by slicing, which copies no column."""
    start = len(df) - int(keep.sum())
    if keep[start:].all():
        return df.iloc[:start], df.iloc[start:]
    return df[~keep], df[keep]


def stream_spans(
    src: Source, block_bytes: int, workers: int, verify: bool = False
) -> Iterator[tuple[FileSpan, int]]:
    """Sorted input for workers: spans of whole patients, each ending where the last patient of a
    block starts (the rows in `stream_units`' units), which the workers read themselves. Here the
    blocks are only laid out (`iter_layouts`: line ends and quotes, a numpy pass) and their last
    rows' patient ids read, so the process feeding the workers does a fraction of the reading.

    With `verify`, each worker checks the order within its span and this the order where spans
    meet. Block sizes are guided as in `stream_units`."""

    start, before = src.header_bytes, 0  # the next span: from `start`, after `before` rows
    last = 0  # the last row laid out
    for at, lay, done in iter_layouts(src, guided(src, block_bytes, workers)):
        if lay.last_row == last:  # no row in this block
            continue
        last = lay.last_row
        if done >= src.size and not lay.left:  # the file's last block: its last patient ends here
            break
        line, held, prior = _last_patient(lay, src)
        if prior is None:  # the block is all the last patient's: the span goes on
            continue
        if verify and not prior < held:
            raise Unsorted(src.name)
        end = at + int(lay.scan.starts[line])
        yield FileSpan(src, Span(start, end, before), verify), end
        start, before = end, int(lay.numbers[line]) - 1
    if last > before:
        yield FileSpan(src, Span(start, src.size, before), verify), src.size


TAIL_LINES = 64  # a block's last lines read for their patient ids (more when one patient fills them)


def _last_patient(lay: Layout, src: Source) -> tuple[int, str, str | None]:
    """Where a block's last patient's closing run of rows starts: (its first line, the patient,
    the patient of the row before the run, None when the run fills the block). Only the block's
    last lines are read, and only their patient ids."""
    n = len(lay.numbers)
    take = TAIL_LINES
    while True:
        first = max(0, n - take)
        tail = _rows_of(lay.tail(first), src)
        rows, ids = tail
        if len(ids):
            held = ids[-1]
            other = np.flatnonzero(ids != held)
            if len(other):
                k = int(other[-1]) + 1
                return first + int(np.flatnonzero(lay.numbers[first:] == rows[k])[0]), held, ids[k - 1]
            if first == 0:
                return int(np.flatnonzero(lay.numbers == rows[0])[0]), held, None
        take *= 4


def _rows_of(lay: Layout, src: Source) -> tuple[np.ndarray, np.ndarray]:
    """The row numbers and patient ids (as `audit_rows` keys them) of a layout's rows, in row order."""
    b = read_rows(lay, src, ("patient_id",))
    rows = np.concatenate([b.rows["_row"].to_numpy(np.int64), b.bad["_row"].to_numpy(np.int64)])
    ids = np.concatenate([pid_keys(b.rows["patient_id"]), pid_keys(b.bad["patient_id"])])
    order = np.argsort(rows, kind="stable")
    return rows[order], ids[order]


@dataclass(frozen=True)
class FileSpan:
    """Rows of a sorted file (whole patients), read where they are audited; with `verify`, their
    order is checked there too (`Unsorted`), the order across spans being checked by the cutter
    (`stream_spans`)."""

    src: Source
    span: Span
    verify: bool

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        block = self.span.read(self.src)
        if self.verify and not OrderCheck()(block.rows, block.bad):
            raise Unsorted(self.src.name)
        return block.rows, block.bad
