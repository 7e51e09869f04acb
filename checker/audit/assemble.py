"""Findings of every source made into one frame, de-duplicated and ordered as the engine reports them.

Sources (`memo.Block`) give, per hit, a patient code, a finding template and the hit's rows. The
engine keeps the last of equal (code, drugs, medications, message) and sorts a report by severity,
category, drugs, code, medications and message; here both are done on integer keys (ranks per
template, a key per rows' tuple), and text is only taken, never built per hit, except the rows'.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from checker.model import SEVERITY_RANK, Finding

from . import memo

COLUMNS = ["patient_id", "rows", "severity", "category", "code", "drugs", "message", "recommendation"]


def _ranked(values: list) -> np.ndarray:
    """Per value, its rank in sorted order (equal values: equal ranks)."""
    distinct = sorted(set(values))
    at = {x: i for i, x in enumerate(distinct)}
    return np.fromiter((at[x] for x in values), dtype=np.int64, count=len(values))


def _rows_text(rows: np.ndarray) -> pa.Array:
    """`;`-joined row numbers per hit (Arrow's integer text is Python's: plain decimal digits)."""
    if rows.shape[1] == 0:
        return pa.array([""] * len(rows), type=pa.large_string())
    cols = [pc.cast(pa.array(rows[:, j]), pa.large_string()) for j in range(rows.shape[1])]
    sep = pa.scalar(";", pa.large_string())
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, sep)


def _local_keys(blocks: list[memo.Block]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per hit, an integer in the order of its rows' tuple of within-patient indexes (Python's
    tuple order: element by element, a prefix first) and equal for equal tuples: the digits
    index + 1 in base (largest index + 2), padded with zeros to the widest tuple. None when
    that does not fit in 62 bits. Returned twice: as the identity key and as the sort rank."""
    width = max(b.local.shape[1] for b in blocks)
    top = max((int(b.local.max()) for b in blocks if b.local.size), default=-1) + 2
    if top**width >= 1 << 62:
        return None
    weights = np.array([top ** (width - 1 - j) for j in range(width)], dtype=np.int64)
    key = np.concatenate([(b.local.astype(np.int64) + 1) @ weights[: b.local.shape[1]] for b in blocks])
    return key, key


def _local_tuples(blocks: list[memo.Block]) -> tuple[np.ndarray, np.ndarray]:
    """`_local_keys` for any width: per hit, a code per distinct tuple, and those codes' ranks."""
    tuples: dict[tuple[int, ...], int] = {}
    parts = []
    for b in blocks:
        if b.local.shape[1] == 0:
            parts.append(np.full(len(b.pidx), tuples.setdefault((), len(tuples)), dtype=np.int64))
        else:
            uniq, inv = np.unique(b.local, axis=0, return_inverse=True)
            ids = np.array([tuples.setdefault(tuple(u), len(tuples)) for u in uniq.tolist()], dtype=np.int64)
            parts.append(ids[inv.reshape(-1)])
    ltid = np.concatenate(parts)
    return ltid, _ranked(list(tuples))[ltid]


def assemble(
    blocks: list[memo.Block], t: memo.Templates, codes: pd.Index, firsts: pd.Series, want_reports: bool
) -> pd.DataFrame:
    """One frame of findings, de-duplicated as the engine does it (the last of equal (code, drugs,
    medications, message) wins: sources are taken in the engine's order) and sorted as the report
    is, patients by first row. All sort and identity keys are integers: per finding template its
    ranks, per hit its rows' tuple of within-patient indexes (`_local_keys`). The rows' text is
    made in Arrow for the hits kept only, block by block."""
    blocks = sorted((b for b in blocks if len(b.pidx)), key=lambda b: b.family)
    if not blocks:
        return empty()
    ltid, lrank = _local_keys(blocks) or _local_tuples(blocks)
    pidx = np.concatenate([b.pidx for b in blocks])
    tid = np.concatenate([b.tid for b in blocks])
    found = t.found
    same = pd.factorize(pd.Series([(x.code, x.drugs, x.message) for x in found], dtype=object))[0]
    dup = pd.DataFrame({"p": pidx, "s": same[tid], "l": ltid}).duplicated(keep="last").to_numpy()
    keep = np.flatnonzero(~dup)
    pidx, tid, ltid, lrank = pidx[keep], tid[keep], ltid[keep], lrank[keep]
    sev = np.array([SEVERITY_RANK[x.severity] for x in found], dtype=np.int64)
    cat = _ranked([x.category for x in found])
    drugs = _ranked([x.drugs for x in found])
    code = _ranked([x.code for x in found])
    msg = _ranked([x.message for x in found])
    first = firsts.to_numpy(np.int64)[pidx]
    order = np.lexsort((msg[tid], lrank, code[tid], drugs[tid], cat[tid], sev[tid], first))
    pidx, tid, first = pidx[order], tid[order], first[order]
    text = pd.Series(pd.array(_texts(blocks, keep[order]), dtype="str"))

    def col(get: Callable[[Finding], str]) -> pd.Series:  # text taken per template: no per-hit strings
        return pd.Series(pd.array([get(x) for x in found], dtype="str")).take(tid).reset_index(drop=True)

    out = pd.DataFrame(
        {
            "patient_id": pd.Series(pd.array(np.asarray(codes, dtype=object), dtype="str"))
            .take(pidx)
            .reset_index(drop=True),
            "rows": text,
            "severity": col(lambda x: x.severity),
            "category": col(lambda x: x.category),
            "code": col(lambda x: x.code),
            "drugs": col(lambda x: ";".join(x.drugs)),
            "message": col(lambda x: x.message),
            "recommendation": col(lambda x: x.recommendation),
            "first_row": first,
            "sev_rank": sev[tid],
            "order": np.arange(len(tid), dtype=np.int64),
        }
    )
    if want_reports:
        out["obj"] = np.array(found + [None], dtype=object)[:-1][tid]
    return out


def _texts(blocks: list[memo.Block], sel: np.ndarray) -> pa.Array:
    """The rows' text of the hits at positions `sel` (over all blocks, in turn), in that order."""
    offs = np.cumsum([0] + [len(b.pidx) for b in blocks])
    which = np.searchsorted(offs, sel, side="right") - 1
    chunks, where = [], []
    for i, b in enumerate(blocks):
        at = np.flatnonzero(which == i)
        if len(at):
            chunks.append(_rows_text(b.rows[sel[at] - offs[i]]))
            where.append(at)
    if not chunks:
        return pa.array([], type=pa.large_string())
    back = np.empty(len(sel), dtype=np.int64)
    back[np.concatenate(where)] = np.arange(len(sel))
    return pa.concat_arrays(chunks).take(pa.array(back))



def empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    return out.assign(
        first_row=pd.Series([], dtype=np.int64),
        sev_rank=pd.Series([], dtype=np.int64),
        order=pd.Series([], dtype=np.int64),
    )
