"""`medcheck audit`: read, audit, write, and end with the summary line on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

from . import sorted_input
from .encoding import UnreadableInput
from .evaluate import Result
from .normalize import MED_FIELDS, Patients, no_patients
from .output import JsonWriter, Totals, Writer, open_writer
from .partition import Finish, Options, batch_collection, read_patients, run_chunked, run_dask, run_memory
from .read_ahead import is_sorted_read_ahead, regular_output
from .sorted_input import Unsorted, block_size
from .source import Source, open_source

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


def _target(args: argparse.Namespace) -> str:
    return args.output if args.output not in (None, "-") else "standard output"


def _say(text: str) -> None:
    print(f"medcheck: {text}", file=sys.stderr)


def run_audit(args: argparse.Namespace, src: Source | None = None) -> int:
    """Exit 0 done, 1 done with a finding at or above --fail-on, 2 bad usage or unreadable input.
    `src` is the input if the caller has opened it already (`read_ahead.early_start`)."""
    if args.chunksize is not None and args.chunksize < 1:
        _say("--chunksize must be a positive number of rows")
        return EXIT_USAGE
    if getattr(args, "workers", None) is not None and args.workers < 1:
        _say("--workers must be a positive number of processes")
        return EXIT_USAGE
    try:
        src = open_source(args.meds) if src is None else src
    except UnreadableInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    try:
        with batch_collection():
            return _run(args, src)
    except UnreadableInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        raise
    except OSError as exc:  # the disk filled up, the output went away: say so, no traceback
        _say(f"audit stopped, cannot write {exc.filename or _target(args)}: {exc.strerror or exc}")
        return EXIT_USAGE
    finally:
        src.close()


UNSORTED_NOTE = "input is not sorted by patient_id and is read whole; --chunksize N bounds memory"


def _stream_by_default(src) -> bool:
    """Large input sorted by patient_id streams chunk by chunk: the same output, in bounded memory.

    Unsorted large input is still read whole (its output order is the rows' order); --chunksize
    bounds memory for it too, grouping the output by partition. (Used when the output cannot be
    started over: see `_plan`.)"""
    if src.size <= sorted_input.AUTO_STREAM_BYTES:
        return False
    if is_sorted_read_ahead(src, block_size(src, sorted_input.AUTO_CHUNK_ROWS)):
        return True
    _say(UNSORTED_NOTE)
    return False


Runner = Callable[[Finish], Iterator[tuple[Any, int]]]


def _plan(
    args: argparse.Namespace, src: Source, patients: Patients, opts: Options, rewindable: bool
) -> tuple[Runner, Runner | None]:
    """The run, and what to run instead if it raises `Unsorted` (None: it never does).

    Streaming needs input sorted by patient_id. When the output is a regular file, which can be
    started over, the stream checks the order as it reads (one pass over the file) and, in the
    rare case it finds a patient out of order, the output is truncated and the input audited the
    way unsorted input is; otherwise a pass of its own checks the order first."""
    if args.engine == "dask":
        return partial(run_dask, src, patients, opts), None
    if args.chunksize:
        if not rewindable:
            return partial(run_chunked, src, patients, opts), None
        return (
            partial(run_chunked, src, patients, replace(opts, order="verify")),
            partial(run_chunked, src, patients, replace(opts, order="unsorted")),
        )
    streamed = replace(opts, chunksize=sorted_input.AUTO_CHUNK_ROWS)
    if rewindable and src.size > sorted_input.AUTO_STREAM_BYTES:
        return (
            partial(run_chunked, src, patients, replace(streamed, order="verify")),
            partial(_read_whole, src, patients, opts),
        )
    if _stream_by_default(src):
        # _stream_by_default has just checked the order: chunk_jobs need not read it again.
        return partial(run_chunked, src, patients, replace(streamed, order="sorted")), None
    return partial(run_memory, src, patients, opts), None


def _read_whole(src: Source, patients: Patients, opts: Options, finish: Finish) -> Iterator[tuple[Any, int]]:
    """Large unsorted input, found out while streaming: read whole, as `_stream_by_default` says."""
    _say(UNSORTED_NOTE)
    return run_memory(src, patients, opts, finish)


class Rendering:
    """A partition's result made ready to write (`Writer.render`, `Totals.of`): run where the
    partition was audited, so with --workers the costly formatting is shared out too and only
    bytes and counters come back to this process."""

    def __init__(self, writer: Writer):
        self.writer = writer

    def __call__(self, res: Result) -> tuple[object, Totals]:
        return self.writer.render(res), Totals.of(res, self.writer.detail)


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
        _say(f"cannot write {_target(args)}: {exc.strerror}")
        return EXIT_USAGE
    opts = Options(
        chunksize=args.chunksize,
        reports=isinstance(writer, JsonWriter),
        scheduler=args.scheduler,
        keep=tuple(keep),
        **({"workers": args.workers} if getattr(args, "workers", None) is not None else {}),
    )
    rewindable = regular_output(args.output)
    run, instead = _plan(args, src, patients, opts, rewindable)
    try:
        totals = _write_all(run(Rendering(writer)), writer, src)
    except Unsorted:
        if instead is None:
            raise
        writer.discard()
        writer = open_writer(args.output, keep)
        totals = _write_all(instead(Rendering(writer)), writer, src)
    writer.close(totals)
    print(totals.line(src.encoding), file=sys.stderr)
    if args.fail_on and totals.at_or_above(args.fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


def _write_all(results: Iterator[tuple[Any, int]], writer: Writer, src: Source) -> Totals:
    """Put each partition's payload in order; the counters of them all."""
    totals = Totals()
    progress = Progress(src.size) if sys.stderr.isatty() else None
    for (payload, part), done in results:
        writer.put(payload)
        totals.merge(part)
        if progress:
            progress.update(done, totals)
    if progress:
        progress.finish()
    return totals
