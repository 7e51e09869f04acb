"""Where the rows go before they are audited: all at once, streamed, hash-partitioned, or to Dask.

Every mode hands whole patients to the same function, `evaluate.audit_rows`, so the findings of
a patient never depend on the mode. In memory (default) and Dask-in-memory, output is in the
order of each patient's first row. `--chunksize` bounds memory: input sorted by patient_id
streams in blocks (each block's last patient waits for the next block); any other input is first
hash-partitioned by patient_id into temporary Parquet files, then each partition is audited in
turn (output is then grouped by partition, in first-row order within each).

`--workers N` audits N of those partitions at once in forked processes (`audit_jobs`). Sorted
input is then cut into spans of whole patients that the workers read themselves (`stream_spans`):
the process feeding them only finds line ends and the patient at each cut; or, when the command
could fork a reader before loading the engine, the spans that reader has read (`read_ahead`,
`claim`). In memory,
the rows are cut into parts of whole patients taken in first-row order, so part k's patients all
come before part k+1's and the parts' outputs, joined in order, are the single run's output.
A worker also renders its partition's output (`finish`: the CSV lines' parts, the JSON text,
the counters), so the writing process only joins lines and copies bytes; results are written
strictly in input order, hence byte-identical output for any N. At most 2N partitions are
submitted at a time (N being audited, N queued so that no worker waits for the reader), plus the
one being written.
"""

from __future__ import annotations

import gc
import math
import multiprocessing as mp
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .arrays import distinct_ints
from .evaluate import SORT_KEYS, Result, audit_rows, load_tables
from .normalize import Patients, load_patients
from .read_ahead import ReadSpan, claim, is_sorted_read_ahead
from .reading import iter_blocks
from .sorted_input import FileSpan, block_size, pid_keys, stream_spans, stream_units
from .source import Source, open_source
from .spool import folder as spool_folder
from .spool import run_folder, spill, unspill
from .workers import env_workers, fork_count


@dataclass
class Options:
    chunksize: int | None = None
    reports: bool = False
    scheduler: str | None = None
    partitions: int | None = None
    keep: tuple[str, ...] = ()
    workers: int = field(default_factory=lambda: env_workers())  # partitions audited at once
    # Is the input sorted by patient_id? "check" (a pass of its own first), "sorted" (the caller
    # knows), "verify" (stream as if sorted and raise Unsorted if not), "unsorted" (the caller knows).
    order: str = "check"


BATCH_GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def batch_collection() -> Iterator[None]:
    """Collect cycles rarely while a batch runs, and never scan what is loaded before it.

    An audit keeps millions of container objects to the end (interpreted orders, per-key
    findings, memo tables). With CPython's default thresholds the cycle collector ran ~600 times
    per 400k rows, re-scanning those caches each time: ~12 % of the audit's time, for cycles the
    audit hardly makes. Frozen objects (knowledge, formulary, patients: loaded before the run)
    are never scanned again, and forked workers do not copy their pages by touching their
    collector headers. The process's own settings come back afterwards."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*BATCH_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def read_all(src: Source) -> tuple[pd.DataFrame, pd.DataFrame]:
    blocks = list(iter_blocks(src))
    rows = pd.concat([b.rows for b in blocks], ignore_index=True) if blocks else pd.DataFrame()
    bad = pd.concat([b.bad for b in blocks], ignore_index=True) if blocks else _no_bad()
    if rows.empty and not len(rows.columns):
        rows = pd.DataFrame({c: pd.Series([], dtype=str) for c in ["_row", *src.columns]})
    return rows, bad


def _no_bad() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_row": pd.Series([], dtype=np.int64),
            "patient_id": pd.Series([], dtype=str),
            "reason": pd.Series([], dtype=str),
        }
    )


def read_patients(path: str) -> tuple[Patients, list[str]]:
    src = open_source(path, required=("patient_id",))
    try:
        rows, bad = read_all(src)
    finally:
        src.close()
    notes = list(src.notes) + [
        f"{src.name}: row {r} skipped ({why})" for r, why in zip(bad["_row"], bad["reason"], strict=True)
    ]
    return load_patients(rows), notes


Finish: TypeAlias = Callable[[Result], Any]


@dataclass(frozen=True)
class FilePart:
    """Run `part` of `parts` (patients in first-row order) of a hash partition's Parquet file: a
    worker loads it itself, so the rows are not pickled to it."""

    path: str
    part: int = 0
    parts: int = 1

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows, bad = load_partition(self.path)
        if self.parts == 1:
            return rows, bad
        part_r, part_b = first_row_parts(rows, bad, self.parts)
        return rows[part_r == self.part], bad[part_b == self.part]


# A job: rows and bad rows, a file to load them from, or a part number of the rows in memory.
Job: TypeAlias = "tuple[pd.DataFrame, pd.DataFrame] | FilePart | FileSpan | ReadSpan | int"
LOADED = (FilePart, FileSpan, ReadSpan)  # jobs that load their rows where they are audited
PART_ROWS = 100_000  # in memory with workers: rows per part (several per worker evens out the load)


def _same(res: Result) -> Result:
    return res


@dataclass
class Auditor:
    """Audits one job wherever it runs: in this process, or in a worker forked with it (`_WORKER`),
    which then needs only the job itself pickled, not the patients or the in-memory rows."""

    patients: Patients
    opts: Options
    finish: Finish
    whole: tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray] | None = None  # rows, bad, parts

    def __call__(self, job: Job) -> Any:
        if isinstance(job, LOADED):
            rows, bad = job.load()
        elif isinstance(job, int):
            assert self.whole is not None
            all_rows, all_bad, part_r, part_b = self.whole
            rows, bad = all_rows[part_r == job], all_bad[part_b == job]
        else:
            rows, bad = job
        return self.finish(audit_rows(rows, bad, self.patients, None, self.opts.reports, self.opts.keep))


_WORKER: Auditor | None = None  # set before the pool forks; the workers inherit it


def _in_worker(job_file: str, out_file: str) -> str:
    """Audit in a worker. The job and the result go through files (`spool`), not the pool's pipe: a
    partition's output is ~10 MB, and through the pipe the worker would wait, 64 KiB at a time, on
    the writing process's result thread (which needs the GIL the writer holds) before taking its
    next job; through a file neither is copied more than once."""
    assert _WORKER is not None
    spill(_WORKER(unspill(job_file)), out_file)
    return out_file


def workers_for(src: Source, opts: Options) -> int:
    """Processes worth forking for this input (`workers.fork_count`)."""
    return fork_count(src.size, opts.workers)


def audit_jobs(jobs: Iterable[tuple[Job, int]], auditor: Auditor, workers: int) -> Iterator[tuple[Any, int]]:
    """Each job's `finish`ed result with its progress mark, strictly in the jobs' order.

    With one worker the jobs run here. Otherwise the pool forks at once (callers ask for workers
    only for input worth it, see `workers_for`) and at most 2*workers jobs are submitted ahead of
    the result being written: N audited and N queued, so that workers finishing together never
    wait for the reader to parse their next partition."""
    global _WORKER
    if workers == 1:
        for job, done in jobs:
            yield auditor(job), done
        return
    _WORKER = auditor
    load_tables()
    gc.freeze()  # the workers share what is loaded by now without touching its pages (see batch_collection)
    folder = spool_folder("medcheck-results-")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))
    pending: deque[tuple[Future[str], int]] = deque()
    try:
        for n, (job, done) in enumerate(jobs):
            job_file = os.path.join(folder, f"{n}.job")
            spill(job, job_file)
            del job
            pending.append((pool.submit(_in_worker, job_file, os.path.join(folder, f"{n}.out")), done))
            if len(pending) > 2 * workers:
                fut, at = pending.popleft()
                yield unspill(fut.result()), at
        while pending:
            fut, at = pending.popleft()
            yield unspill(fut.result()), at
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER = None
        shutil.rmtree(folder, ignore_errors=True)
        gc.unfreeze()


def run_memory(
    src: Source, patients: Patients, opts: Options, finish: Finish = _same
) -> Iterator[tuple[Any, int]]:
    """The whole input at once; with workers, in parts of whole patients taken in first-row order."""
    rows, bad = read_all(src)
    workers = workers_for(src, opts)
    if workers == 1:
        yield finish(audit_rows(rows, bad, patients, None, opts.reports, opts.keep)), src.size
        return
    parts = math.ceil((len(rows) + len(bad)) / (PART_ROWS * workers)) * workers  # they finish together
    part_r, part_b = first_row_parts(rows, bad, parts)
    auditor = Auditor(patients, opts, finish, (rows, bad, part_r, part_b))
    used = distinct_ints(np.concatenate([part_r, part_b])).tolist()  # a part may be empty: few patients
    yield from audit_jobs(((p, src.size * (p + 1) // parts) for p in used), auditor, workers)


def first_row_parts(rows: pd.DataFrame, bad: pd.DataFrame, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Part number per row and per bad row: patients (as `audit_rows` keys them, the stripped id)
    ranked by their first row, cut into `parts` runs of about equal rows. Every patient's first row
    in part k comes before any in part k+1, and the output is in first-row order, so the parts'
    outputs, concatenated, are the whole input's output."""
    ids = np.concatenate([pid_keys(rows["patient_id"]), pid_keys(bad["patient_id"])])
    at = np.concatenate([rows["_row"].to_numpy(np.int64), bad["_row"].to_numpy(np.int64)])
    code, uniq = pd.factorize(ids)
    first = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, code, at)
    order = np.argsort(first, kind="stable")
    size = np.bincount(code, minlength=len(uniq))[order]
    before = np.cumsum(size) - size
    part_of = np.empty(len(uniq), dtype=np.int64)
    part_of[order] = before * parts // max(1, len(ids))
    part = part_of[code]
    return part[: len(rows)], part[len(rows) :]


class Partitioner:
    """Hash-partition rows by patient_id into temporary Parquet files, one writer per partition."""

    def __init__(self, n: int, folder: str):
        import pyarrow.parquet as pq

        self.n, self.folder, self.pq = n, folder, pq
        self.writers: dict[int, object] = {}

    def add(self, rows: pd.DataFrame, bad: pd.DataFrame) -> None:
        import pyarrow as pa

        both = pd.concat(
            [rows.assign(_reason=""), bad.assign(_reason=bad["reason"]).drop(columns="reason")],
            ignore_index=True,
        )
        both = both.astype({c: str for c in both.columns if c != "_row"}).fillna("")
        part = pd.util.hash_array(pid_keys(both["patient_id"]).astype(str)) % self.n
        for p in distinct_ints(part):
            table = pa.Table.from_pandas(both[part == p], preserve_index=False)
            if p not in self.writers:
                self.writers[p] = self.pq.ParquetWriter(
                    os.path.join(self.folder, f"{p}.parquet"), table.schema
                )
            self.writers[p].write_table(table)

    def close(self) -> list[str]:
        import pyarrow as pa

        for w in self.writers.values():
            w.close()
        paths = [os.path.join(self.folder, f"{p}.parquet") for p in sorted(self.writers)]
        self.writers.clear()
        gc.collect()
        pa.default_memory_pool().release_unused()  # the writers' buffers, before the workers fork
        return paths


def load_partition(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_parquet(path)
    bad = df[df["_reason"] != ""]
    rows = df[df["_reason"] == ""].drop(columns="_reason")
    return rows, pd.DataFrame(
        {
            "_row": bad["_row"].to_numpy(np.int64),
            "patient_id": bad["patient_id"].to_numpy(),
            "reason": bad["_reason"].to_numpy(),
        }
    )


def partition_files(src: Source, n: int, folder: str, block_bytes: int) -> list[str]:
    parts = Partitioner(n, folder)
    for b in iter_blocks(src, block_bytes):
        parts.add(b.rows, b.bad)
    return parts.close()


def chunk_jobs(src: Source, opts: Options, folder: str) -> Iterator[tuple[Job, int]]:
    """Whole-patient units of bounded size: streamed (rows, bad) when sorted, else the paths of
    hash partitions (a worker loads its own, so the rows are not pickled to it)."""
    block_bytes = block_size(src, opts.chunksize or 100_000)
    workers = workers_for(src, opts)
    if opts.order in ("sorted", "verify") or opts.order == "check" and is_sorted_read_ahead(src, block_bytes):
        if workers > 1:
            verify = opts.order == "verify"
            ahead = claim(src, block_bytes, workers, not verify)  # read ahead: see read_ahead
            yield from ahead.jobs() if ahead else stream_spans(src, block_bytes, workers, verify)
            return
        for rows, bad, done in stream_units(src, block_bytes, workers, opts.order == "verify"):
            yield (rows, bad), done
        return
    files = partition_files(src, max(1, math.ceil(src.size / block_bytes)), folder, block_bytes)
    # The partitions' number sets the output's grouping, so it cannot follow the workers; when
    # they do not share out evenly, each is audited in `workers` runs of its patients taken in
    # first-row order, whose outputs, joined, are the partition's (see `first_row_parts`).
    split = workers if len(files) % workers else 1
    for i, path in enumerate(files, 1):
        for k in range(split):
            yield (
                FilePart(path, k, split),
                src.size * (i - 1) // len(files) + src.size * (k + 1) // (split * len(files)),
            )


def chunk_units(src: Source, opts: Options, folder: str) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, int]]:
    """Whole-patient units of bounded size: streamed when sorted, else via hash partitions."""
    for job, done in chunk_jobs(src, opts, folder):
        rows, bad = job.load() if isinstance(job, LOADED) else job
        yield rows, bad, done


def run_chunked(
    src: Source, patients: Patients, opts: Options, finish: Finish = _same
) -> Iterator[tuple[Any, int]]:
    folder = run_folder("medcheck-parts-")  # on disk: partitions can outgrow memory
    try:
        yield from audit_jobs(
            chunk_jobs(src, opts, folder), Auditor(patients, opts, finish), workers_for(src, opts)
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _dask_client(scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    processes = os.environ.get("MEDCHECK_DASK_PROCESSES", "1") != "0"
    cluster = LocalCluster(processes=processes, dashboard_address=None)
    return Client(cluster), cluster


def run_dask(
    src: Source, patients: Patients, opts: Options, finish: Finish = _same
) -> Iterator[tuple[Any, int]]:
    """The same `audit_rows` per partition on a Dask cluster, results taken back in order (and
    `finish`ed here: the cluster's workers need not know the writer)."""
    client, cluster = _dask_client(opts.scheduler)
    folder = run_folder("medcheck-parts-")  # on disk: partitions can outgrow memory
    try:
        pat = client.scatter(patients, broadcast=True)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        if opts.chunksize:
            pending: list = []
            for rows, bad, done in chunk_units(src, opts, folder):
                pending.append(
                    (
                        client.submit(audit_rows, rows, bad, pat, None, opts.reports, opts.keep, pure=False),
                        done,
                    )
                )
                if len(pending) >= 2 * workers:  # bounded: only a few partitions in flight
                    fut, at = pending.pop(0)
                    yield finish(fut.result()), at
            for fut, at in pending:
                yield finish(fut.result()), at
            return
        rows, bad = read_all(src)
        n = opts.partitions or 2 * workers
        part_r = pd.util.hash_array(pid_keys(rows["patient_id"]).astype(str)) % n
        part_b = pd.util.hash_array(pid_keys(bad["patient_id"]).astype(str)) % n
        futures = [
            client.submit(
                audit_rows,
                rows[part_r == p],
                bad[part_b == p],
                pat,
                None,
                opts.reports,
                opts.keep,
                pure=False,
            )
            for p in range(n)
        ]
        yield finish(merge_results(client.gather(futures))), src.size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        client.close()
        if cluster is not None:
            cluster.close()


def merge_results(results: list[Result]) -> Result:
    """Partitions' results in the single-machine order: by each patient's first row."""
    frames = [r.findings for r in results if len(r.findings)]
    findings = pd.concat(frames, ignore_index=True) if frames else results[0].findings
    findings = findings.sort_values(SORT_KEYS, kind="stable").reset_index(drop=True)
    reports = None
    if any(r.reports is not None for r in results):
        reports = sorted((rep for r in results for rep in (r.reports or [])), key=lambda d: d["first_row"])
    return Result(
        findings,
        sum(r.rows_read for r in results),
        sum(r.rows_rejected for r in results),
        sum(r.patients for r in results),
        reports,
    )
