"""Where the rows go before they are audited: all at once, streamed, hash-partitioned, or to Dask.

Every mode hands whole patients to the same function, `evaluate.audit_rows`, so the findings of
a patient never depend on the mode. In memory (default) and Dask-in-memory, output is in the
order of each patient's first row. `--chunksize` bounds memory: input sorted by patient_id
streams in blocks (each block's last patient waits for the next block); any other input is first
hash-partitioned by patient_id into temporary Parquet files, then each partition is audited in
turn (output is then grouped by partition, in first-row order within each).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .evaluate import _SORT, Result, audit_rows
from .normalize import Patients, load_patients
from .reading import Source, iter_blocks, open_source


@dataclass
class Options:
    chunksize: int | None = None
    reports: bool = False
    scheduler: str | None = None
    partitions: int | None = None
    keep: tuple[str, ...] = ()
    workers: int = field(default_factory=lambda: env_workers())  # forked processes per partition
    presorted: bool = False  # the caller has already found the input sorted by patient_id


def env_workers() -> int:
    """MEDCHECK_AUDIT_WORKERS: processes sharing each partition's per-patient work (default 1;
    "auto" for one per CPU). The findings are the same for any number."""
    text = os.environ.get("MEDCHECK_AUDIT_WORKERS", "1").strip().lower()
    if text == "auto":
        return max(
            1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        )
    try:
        return max(1, int(text))
    except ValueError:
        return 1


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


def run_memory(src: Source, patients: Patients, opts: Options) -> Iterator[tuple[Result, int]]:
    rows, bad = read_all(src)
    yield audit_rows(rows, bad, patients, None, opts.reports, opts.keep, opts.workers), src.size


def _pid(s: pd.Series) -> np.ndarray:
    return s.fillna("").astype(str).str.strip().to_numpy(dtype=object)


def is_sorted(src: Source, block_bytes: int) -> bool:
    """Are the rows ordered by patient_id? One cheap pass: the blocks are scanned as for the audit
    (same rows, same bad rows) but only the patient_id column is turned into values."""
    last = None
    for b in iter_blocks(src, block_bytes, only=("patient_id",)):
        ids = np.concatenate([_pid(b.rows["patient_id"]), _pid(b.bad["patient_id"])])
        order = np.concatenate([b.rows["_row"].to_numpy(), b.bad["_row"].to_numpy()])
        ids = ids[np.argsort(order, kind="stable")]
        if not len(ids):
            continue
        if last is not None and ids[0] < last or bool(np.any(ids[1:] < ids[:-1])):
            return False
        last = ids[-1]
    return True


def block_size(src: Source, chunksize: int) -> int:
    with open(src.path, "rb") as fh:
        fh.seek(src.header_bytes)
        sample = fh.read(1 << 20)
    per_line = len(sample) / max(1, sample.count(b"\n"))
    return max(1 << 16, int(chunksize * per_line))


def stream_units(src: Source, block_bytes: int) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, int]]:
    """Sorted input: each block but its last patient, who continues into the next block."""
    held_rows, held_bad = None, None
    for b in iter_blocks(src, block_bytes):
        rows = b.rows if held_rows is None else pd.concat([held_rows, b.rows], ignore_index=True)
        bad = b.bad if held_bad is None else pd.concat([held_bad, b.bad], ignore_index=True)
        ids = np.concatenate([_pid(rows["patient_id"]), _pid(bad["patient_id"])])
        if not len(ids):
            continue
        last = max(ids)
        keep_r, keep_b = _pid(rows["patient_id"]) == last, _pid(bad["patient_id"]) == last
        held_rows, held_bad = rows[keep_r], bad[keep_b]
        yield rows[~keep_r], bad[~keep_b], b.bytes_done
    if held_rows is not None:
        yield held_rows, held_bad, src.size


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
        part = pd.util.hash_array(_pid(both["patient_id"]).astype(str)) % self.n
        for p in np.unique(part):
            table = pa.Table.from_pandas(both[part == p], preserve_index=False)
            if p not in self.writers:
                self.writers[p] = self.pq.ParquetWriter(
                    os.path.join(self.folder, f"{p}.parquet"), table.schema
                )
            self.writers[p].write_table(table)

    def close(self) -> list[str]:
        for w in self.writers.values():
            w.close()
        return [os.path.join(self.folder, f"{p}.parquet") for p in sorted(self.writers)]


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


def chunk_units(src: Source, opts: Options, folder: str) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, int]]:
    """Whole-patient units of bounded size: streamed when sorted, else via hash partitions."""
    block_bytes = block_size(src, opts.chunksize or 100_000)
    if opts.presorted or is_sorted(src, block_bytes):
        yield from stream_units(src, block_bytes)
        return
    files = partition_files(src, max(1, math.ceil(src.size / block_bytes)), folder, block_bytes)
    for i, path in enumerate(files, 1):
        rows, bad = load_partition(path)
        yield rows, bad, src.size * i // len(files)


def run_chunked(src: Source, patients: Patients, opts: Options) -> Iterator[tuple[Result, int]]:
    folder = tempfile.mkdtemp(prefix="medcheck-parts-")
    try:
        for rows, bad, done in chunk_units(src, opts, folder):
            yield audit_rows(rows, bad, patients, None, opts.reports, opts.keep, opts.workers), done
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _dask_client(scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    processes = os.environ.get("MEDCHECK_DASK_PROCESSES", "1") != "0"
    cluster = LocalCluster(processes=processes, dashboard_address=None)
    return Client(cluster), cluster


def run_dask(src: Source, patients: Patients, opts: Options) -> Iterator[tuple[Result, int]]:
    """The same `audit_rows` per partition on a Dask cluster, results taken back in order."""
    client, cluster = _dask_client(opts.scheduler)
    folder = tempfile.mkdtemp(prefix="medcheck-parts-")
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
                    yield fut.result(), at
            for fut, at in pending:
                yield fut.result(), at
            return
        rows, bad = read_all(src)
        n = opts.partitions or 2 * workers
        part_r = pd.util.hash_array(_pid(rows["patient_id"]).astype(str)) % n
        part_b = pd.util.hash_array(_pid(bad["patient_id"]).astype(str)) % n
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
        yield merge_results(client.gather(futures)), src.size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        client.close()
        if cluster is not None:
            cluster.close()


def merge_results(results: list[Result]) -> Result:
    """Partitions' results in the single-machine order: by each patient's first row."""
    frames = [r.findings for r in results if len(r.findings)]
    findings = pd.concat(frames, ignore_index=True) if frames else results[0].findings
    findings = findings.sort_values(_SORT, kind="stable").reset_index(drop=True)
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
