"""`medcheck audit`: read the rows, group them by patient, audit batches of whole patients (here, in
worker processes, or on a Dask cluster), write the batches' output in input order, and end with
the summary line. Each patient is audited alone, so the output never depends on the batches or
on the number of workers: it is byte-identical for any N.

Memory: by default the rows are held (compactly) and patients come in first-row order. With
`--chunksize N` memory is bounded: input sorted by patient_id (checked in a first pass) streams
N rows at a time with the same output as without; any other input is first spread over
temporary partition files by a stable hash of patient_id, each then audited in turn (the output
is grouped by partition, in first-row order within each).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from checker.engine import run
from checker.model import Patient, Regimen

from .core import Layout, Part, PatientRows, Row, audit_batch
from .loading import MED_FIELDS, PATIENT_FIELDS, missing_cell, unread_columns
from .output import Totals, UsageError, Writer, output_kind, remove_stale, same_file
from .source import STOP, Source, UnreadableInput, open_source, records

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
BATCH_ROWS = 20_000  # rows per batch handed to a worker (whole patients)
MAX_PARTITIONS = 256
AUTO_MAX_WORKERS = 4
MIN_FORK_BYTES = 2 << 20  # smaller input (about a second of work) is audited in-process
Patients = dict[str, tuple[tuple[tuple[str, str], ...], int]]


def _say(text: str) -> None:
    print(f"medcheck: {text}", file=sys.stderr)


def run_audit(args: argparse.Namespace) -> int:
    """Exit 0 done, 1 done with a finding at or above --fail-on, 2 bad usage or unreadable input."""
    try:
        if args.chunksize is not None and args.chunksize < 1:
            raise UsageError("--chunksize must be a positive number of rows")
        if args.workers is not None and args.workers < 1:
            raise UsageError("--workers must be a positive number of processes")
        kind = output_kind(args.output)
    except UsageError as exc:
        _say(str(exc))
        return EXIT_USAGE
    remove_stale(tempfile.gettempdir())
    try:
        src = open_source(args.meds)
    except UnreadableInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    try:
        with _ended_by_sigterm():
            return _run(args, src, kind)
    except UnreadableInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    finally:
        src.close()


def _run(args: argparse.Namespace, src: Source, kind: str) -> int:
    inputs = [p for p in (None if src.temporary else args.meds, args.patients) if p]
    if args.output not in (None, "-") and any(same_file(args.output, p) for p in inputs):
        _say(f"{args.output} is an input of this audit; name another file for the findings")
        return EXIT_USAGE
    for note in src.notes:
        _say(note)
    if unread := unread_columns(src.columns, MED_FIELDS, close_only=True):
        _say(f"{src.name}: columns carried through unread, not as medication fields: {unread}")
    patients: Patients = {}
    if args.patients:
        patients, notes = read_patients(args.patients)
        for note in notes:
            _say(note)
    keep = (
        tuple(c for c in src.columns if c not in MED_FIELDS and c != "patient_id")
        if args.keep_columns
        else ()
    )
    layout = Layout(tuple(c for c in src.columns if c in MED_FIELDS), keep, kind == "json")
    name = args.output if args.output not in (None, "-") else "standard output"
    try:
        writer = Writer(args.output, kind, keep)
    except OSError as exc:
        _say(f"cannot write {name}: {exc.strerror or exc}")
        return EXIT_USAGE
    totals, started = Totals(), time.monotonic()
    try:
        batches = _batches(_groups(src, layout, args.chunksize), patients, args.chunksize or BATCH_ROWS)
        progress = sys.stderr.isatty()
        for part in audit_parts(batches, layout, _workers(args, src), args.engine, args.scheduler):
            writer.put(part)
            totals.add(part)
            if progress:
                sys.stderr.write(f"\r{totals.rows_read:,} rows, {totals.patients:,} patients ")
        if progress:
            sys.stderr.write("\n")
        writer.finish(totals)
    except BrokenPipeError:
        writer.discard()
        raise
    except OSError as exc:  # the disk filled up, the output went away: say so, no partial file
        writer.discard()
        why = exc.strerror or exc
        _say(f"audit stopped, cannot write {exc.filename or name}: {why}; no findings file was written")
        print(totals.line(src.encoding), file=sys.stderr)
        return EXIT_USAGE
    except BaseException:
        writer.discard()
        raise
    print(totals.line(src.encoding), file=sys.stderr)
    _record(totals.rows_read, time.monotonic() - started)
    return EXIT_FINDINGS if args.fail_on and totals.at_or_above(args.fail_on) else EXIT_OK


def _record(rows: int, seconds: float) -> None:
    """Audit rows and time for the service's /metrics: an audit the pages start runs in a child
    process that inherits the service's multiprocess metrics folder, so its figures join the
    workers'; alone on the command line they stay in this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from checker.ops.metrics import record_audit

        record_audit(rows, seconds)


def read_patients(path: str) -> tuple[Patients, list[str]]:
    """Per patient_id its non-empty patient fields (as text) and how many rows it has; notes."""
    src = open_source(path, required=("patient_id",))
    try:
        cols = [(i, c) for i, c in enumerate(src.columns) if c in PATIENT_FIELDS and c != "id"]
        out: Patients = {}
        notes = list(src.notes)
        if unread := unread_columns(src.columns, (c for c in PATIENT_FIELDS if c != "id"), close_only=False):
            notes.append(f"{src.name}: columns that are not patient fields were ignored: {unread}")
        shared: dict[Any, Any] = {}  # equal values and facts held once
        names = [c for _, c in cols]
        for row, cells, pid, why, _ in itertools.chain.from_iterable(records(src, [i for i, _ in cols], [])):
            if cells is None:
                notes.append(f"{src.name}: row {row} skipped ({why})")
            elif pid and pid in out:
                out[pid] = (out[pid][0], out[pid][1] + 1)
            elif pid:
                given = (p for p in zip(names, cells, strict=True) if not missing_cell(p[1]))
                facts = tuple(shared.setdefault(p, p) for p in given)
                out[pid] = (shared.setdefault(facts, facts), 1)
        return out, notes
    finally:
        src.close()


def _rows(src: Source, layout: Layout) -> Iterator[list[tuple[str, Row]]]:
    """(patient_id, row) per data row, in lists: the medication cells trimmed, the kept ones as they are."""
    at = {c: i for i, c in enumerate(src.columns)}
    med, kept = [at[c] for c in layout.med_columns], [at[c] for c in layout.keep]
    for block in records(src, med, kept):
        yield [(pid, (row, cells, why, keep)) for row, cells, pid, why, keep in block]


def _groups(src: Source, layout: Layout, chunksize: int | None) -> Iterator[tuple[str, list[Row]]]:
    """Each patient's rows, patients in first-row order (by partition for unsorted chunked input)."""
    if not chunksize:
        held: dict[str, list[Row]] = {}
        for pid, row in itertools.chain.from_iterable(_rows(src, layout)):
            held.setdefault(pid, []).append(row)
        yield from held.items()
        return
    n, ordered, last = 0, True, ""
    for block in records(src, [], []):  # the first pass: is the input sorted by patient_id?
        n += len(block)
        pids = [r[2] for r in block]
        ordered = ordered and last <= pids[0] and all(a <= b for a, b in itertools.pairwise(pids))
        last = pids[-1]
    if ordered:
        for pid, rows in itertools.groupby(
            itertools.chain.from_iterable(_rows(src, layout)), key=lambda x: x[0]
        ):
            yield pid, [r for _, r in rows]
        return
    yield from _partitioned(src, layout, min(MAX_PARTITIONS, -(-n // chunksize)))


def _partitioned(src: Source, layout: Layout, k: int) -> Iterator[tuple[str, list[Row]]]:
    with tempfile.TemporaryDirectory(prefix=f"medcheck-{os.getpid()}-parts-") as folder:
        files = [open(os.path.join(folder, str(i)), "wb") for i in range(k)]  # noqa: SIM115
        held: list[list[tuple[str, Row]]] = [[] for _ in range(k)]
        for pid, row in itertools.chain.from_iterable(_rows(src, layout)):
            i = zlib.crc32(pid.encode("utf-8", "surrogatepass")) % k  # stable across runs and machines
            held[i].append((pid, row))
            if len(held[i]) >= 4096:
                pickle.dump(held[i], files[i], protocol=pickle.HIGHEST_PROTOCOL)
                held[i] = []
        for fh, rest in zip(files, held, strict=True):
            pickle.dump(rest, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.close()
        for i in range(k):
            groups: dict[str, list[Row]] = {}
            with open(os.path.join(folder, str(i)), "rb") as part:
                while True:
                    try:
                        pieces = pickle.load(part)
                    except EOFError:
                        break
                    for pid, row in pieces:
                        groups.setdefault(pid, []).append(row)
            yield from groups.items()  # in first-row order: rows were spread in row order


def _batches(
    groups: Iterable[tuple[str, list[Row]]], patients: Patients, size: int
) -> Iterator[list[PatientRows]]:
    batch: list[PatientRows] = []
    n = 0
    for pid, rows in groups:
        facts, copies = patients.get(pid, (None, 0))
        batch.append((pid, facts, copies, rows))
        n += len(rows)
        if n >= size:
            yield batch
            batch, n = [], 0
    if batch:
        yield batch


def _workers(args: argparse.Namespace, src: Source) -> int:
    text = str(args.workers or os.environ.get("MEDCHECK_AUDIT_WORKERS", "auto")).strip().lower()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n = min(cpus, AUTO_MAX_WORKERS) if text == "auto" else int(text) if text.isdigit() else 1
    return max(1, n) if src.size >= MIN_FORK_BYTES and "fork" in mp.get_all_start_methods() else 1


def audit_parts(
    batches: Iterable[list[PatientRows]],
    layout: Layout,
    workers: int,
    engine: str = "pandas",
    scheduler: str | None = None,
) -> Iterator[Part]:
    """Each batch's `Part`, in the batches' order, audited here, in worker processes or on Dask."""
    if engine == "dask":
        yield from _dask(batches, layout, scheduler)
        return
    if workers <= 1:
        for batch in batches:
            yield audit_batch(layout, batch)
        return
    run(Regimen(Patient(), ()))  # the knowledge loaded once, shared by the forked workers
    pool = ProcessPoolExecutor(
        workers, mp_context=mp.get_context("fork"), initializer=_die_with_parent, initargs=(os.getpid(),)
    )
    done = False
    try:
        yield from _in_order(pool.submit, batches, layout, 2 * workers)
        done = True
    finally:
        if not done:  # stopped (SIGTERM, a full disk, an error): the batches under way are dropped
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(submit: Callable[..., Any], batches: Iterable, layout: Layout, window: int) -> Iterator[Part]:
    """At most `window` batches in flight; results taken back in submission order."""
    pending: deque[Any] = deque()
    for batch in batches:
        pending.append(submit(audit_batch, layout, batch))
        if len(pending) > window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _dask(batches: Iterable[list[PatientRows]], layout: Layout, scheduler: str | None) -> Iterator[Part]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UnreadableInput("--engine dask needs the 'distributed' package") from None
    cluster = None if scheduler else LocalCluster(dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        yield from _in_order(lambda *a: client.submit(*a, pure=False), batches, layout, 2 * workers)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _die_with_parent(parent: int) -> None:
    """A worker ends with the audit, however the audit ends (SIGKILL included): Linux's parent-death
    signal, else a thread that watches the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) != 0:  # PR_SET_PDEATHSIG
            raise OSError
    except (OSError, AttributeError):
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class _ended_by_sigterm:
    """SIGTERM ends the audit as an exception would: the temporary output removed, workers stopped."""

    def __enter__(self) -> None:
        self.old = None
        STOP.clear()
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, self._stop)

    @staticmethod
    def _stop(signum: int, frame: Any) -> None:
        STOP.set()
        raise SystemExit(128 + signum)

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
