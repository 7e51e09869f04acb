"""`medcheck audit`: read, audit, write, and end with the summary line on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from .normalize import MED_FIELDS, no_patients
from .output import JsonWriter, Totals, open_writer
from .partition import Options, block_size, is_sorted, read_patients, run_chunked, run_dask, run_memory
from .reading import UnreadableInput, open_source

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Progress:
    """A one-line bar on stderr (only when it is a terminal): rows, patients, rate, time left."""

    def __init__(self, total_bytes: int):
        self.total, self.start = max(1, total_bytes), time.monotonic()

    def update(self, done: int, totals: Totals) -> None:
        frac = min(1.0, done / self.total)
        spent = time.monotonic() - self.start
        rate = totals.rows_read / spent if spent > 0 else 0.0
        left = spent * (1 - frac) / frac if frac > 0 else 0.0
        bar = "#" * int(30 * frac)
        sys.stderr.write(
            f"\r[{bar:<30}] {frac:4.0%} {totals.rows_read} rows, {totals.patients} patients, "
            f"{rate:,.0f} rows/s, {left:.0f}s left "
        )
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def _say(text: str) -> None:
    print(f"medcheck: {text}", file=sys.stderr)


def run_audit(args: argparse.Namespace) -> int:
    """Exit 0 done, 1 done with a finding at or above --fail-on, 2 bad usage or unreadable input."""
    if args.chunksize is not None and args.chunksize < 1:
        _say("--chunksize must be a positive number of rows")
        return EXIT_USAGE
    try:
        src = open_source(args.meds)
    except UnreadableInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    try:
        return _run(args, src)
    except UnreadableInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    finally:
        src.close()


AUTO_STREAM_BYTES = 32 << 20  # above this, input sorted by patient is streamed in bounded memory
AUTO_CHUNK_ROWS = 200_000


def _stream_by_default(src) -> bool:
    """Large input sorted by patient_id streams chunk by chunk: the same output, in bounded memory.

    Unsorted large input is still read whole (its output order is the rows' order); --chunksize
    bounds memory for it too, grouping the output by partition."""
    if src.size <= AUTO_STREAM_BYTES:
        return False
    if is_sorted(src, block_size(src, AUTO_CHUNK_ROWS)):
        return True
    _say("input is not sorted by patient_id and is read whole; --chunksize N bounds memory")
    return False


def _run(args: argparse.Namespace, src) -> int:
    for note in src.notes:
        _say(note)
    patients = no_patients()
    if args.patients:
        patients, notes = read_patients(args.patients)
        for note in notes:
            _say(note)
    keep = [c for c in src.columns if c not in (*MED_FIELDS, "patient_id")] if args.keep_columns else []
    try:
        writer = open_writer(args.output, keep)
    except OSError as exc:
        _say(f"cannot write {args.output}: {exc.strerror}")
        return EXIT_USAGE
    opts = Options(
        chunksize=args.chunksize,
        reports=isinstance(writer, JsonWriter),
        scheduler=args.scheduler,
        keep=tuple(keep),
        **({"workers": args.workers} if getattr(args, "workers", None) else {}),
    )
    if args.engine == "dask":
        results = run_dask(src, patients, opts)
    elif args.chunksize:
        results = run_chunked(src, patients, opts)
    elif _stream_by_default(src):
        # _stream_by_default has just checked the order: chunk_units need not read it again.
        results = run_chunked(src, patients, replace(opts, chunksize=AUTO_CHUNK_ROWS, presorted=True))
    else:
        results = run_memory(src, patients, opts)
    totals = Totals()
    progress = Progress(src.size) if sys.stderr.isatty() else None
    for res, done in results:
        writer.write(res)
        totals.add(res)
        if progress:
            progress.update(done, totals)
    if progress:
        progress.finish()
    writer.close(totals)
    print(totals.line(src.encoding), file=sys.stderr)
    if args.fail_on and totals.at_or_above(args.fail_on):
        return EXIT_FINDINGS
    return EXIT_OK
