"""Findings of every source made into one frame, de-duplicated and ordered as the engine reports them.

Sources (`memo.Block`) give, per hit, a patient code, a finding template and the hit's rows. The
engine keeps the last of equal (code, drugs, medications, message) and sorts a report by severity,
category, drugs, code, medications and message; here both are done on integer keys (ranks per
template, a key per rows' tuple), and text is only taken, never built per hit, except the rows'.

The template's text columns (severity ... recommendation) are pandas categoricals: per hit a code
into that column's distinct values, which are few (a million findings hold a few thousand
messages), so no per-hit string is made. They read as the strings they hold (`==`, `.str`,
`isin`, `itertuples`); the categories are sorted, so they also sort and group as the strings do;
`pd.concat` of partitions with other categories gives plain `str` columns.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from checker.model import SEVERITY_RANK, Finding

from . import memo
from .arrays import dense_ranks, radix_key, within

COLUMNS = ["patient_id", "rows", "severity", "category", "code", "drugs", "message", "recommendation"]
TEMPLATE_COLUMNS = COLUMNS[2:]  # one value per finding template: categoricals (see the docstring)


def _ranked(values: Sequence) -> np.ndarray:
    """Per value, its rank in sorted order (equal values: equal ranks)."""
    return _sorted_codes(values)[0]


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


def _sort_order(key: np.ndarray) -> np.ndarray:
    """Positions in key order, as a stable sort gives them: the quicker unstable sort gives the
    same wherever no two keys are equal (after de-duplication, none are)."""
    order = np.argsort(key)
    if np.any(key[order][1:] == key[order][:-1]):
        return np.argsort(key, kind="stable")
    return order


class _Texts:
    """The templates' text fields, once per distinct (severity ... recommendation): many
    templates repeat them (they differ in evidence, or come from other keys of the same rule).
    Per field, a code per distinct template into the field's distinct values, sorted, so the
    codes are the values' ranks; drugs also ranked as tuples, as the engine sorts them (a
    `;`-join need not sort as its tuple)."""

    def __init__(self, found: list[Finding]) -> None:
        fields = list(map(operator.attrgetter(*TEMPLATE_COLUMNS), found))
        distinct = {k: i for i, k in enumerate(dict.fromkeys(fields))}
        self.of = np.fromiter(map(distinct.__getitem__, fields), dtype=np.int64, count=len(fields))
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, list[str]] = {}
        columns = list(zip(*distinct, strict=True)) if distinct else [()] * len(TEMPLATE_COLUMNS)
        for name, values in zip(TEMPLATE_COLUMNS, columns, strict=True):
            if name == "drugs":
                self.drug_rank = _ranked(values)
                values = [";".join(d) for d in values]
            self.codes[name], self.values[name] = _sorted_codes(values)
        ranks = np.array([SEVERITY_RANK[x] for x in self.values["severity"]], dtype=np.int64)
        self.sev_rank = ranks[self.codes["severity"]]

    def size(self, name: str) -> int:
        return len(self.values[name])

    def column(self, name: str, dt: np.ndarray) -> pd.Categorical:
        """The column for hits of distinct templates `dt`: the values they use (sorted) as categories."""
        codes = self.codes[name][dt]
        used = np.zeros(self.size(name), dtype=bool)
        used[codes] = True
        new = np.cumsum(used) - 1
        values = self.values[name]
        cats = pd.Index(pd.array([values[i] for i in np.flatnonzero(used)], dtype="str"))
        return pd.Categorical.from_codes(new[codes], categories=cats, validate=False)


def _sorted_codes(values: Sequence) -> tuple[np.ndarray, list]:
    """Per value, its rank among the distinct values (Python's order), and those values sorted."""
    distinct = sorted(set(values))
    at = {x: i for i, x in enumerate(distinct)}
    return np.fromiter(map(at.__getitem__, values), dtype=np.int64, count=len(values)), distinct


def assemble(
    blocks: list[memo.Block], t: memo.Templates, codes: pd.Index, firsts: pd.Series, want_reports: bool
) -> pd.DataFrame:
    """One frame of findings, de-duplicated as the engine does it (the last of equal (code, drugs,
    medications, message) wins: sources are taken in the engine's order) and sorted as the report
    is, patients by first row. All sort and identity keys are integers: per distinct template its
    ranks, per hit its rows' tuple of within-patient indexes (`_local_keys`, made dense), combined
    into one int64 (`arrays.radix_key`). The rows' text is made in Arrow for the hits kept only;
    the template's text is categorical (see the module docstring)."""
    blocks = sorted((b for b in blocks if len(b.pidx)), key=lambda b: b.family)
    if not blocks:
        return empty()
    _, lrank = _local_keys(blocks) or _local_tuples(blocks)
    lrank = dense_ranks(lrank)  # equal tuples <=> equal ranks: the rank is the identity too
    pidx = np.concatenate([b.pidx for b in blocks])
    tid = np.concatenate([b.tid for b in blocks])
    a = _Texts(t.found)
    dt = a.of[tid]
    # per distinct template: what the engine's identity reads, and its sort keys before the rows
    same = dense_ranks(radix_key(a.codes["code"], a.drug_rank, a.codes["message"]))
    head = dense_ranks(radix_key(a.sev_rank, a.codes["category"], a.drug_rank, a.codes["code"]))
    keep = np.flatnonzero(~pd.Series(radix_key(pidx, same[dt], lrank)).duplicated(keep="last").to_numpy())
    pidx, tid, dt, lrank = pidx[keep], tid[keep], dt[keep], lrank[keep]
    first_all = firsts.to_numpy(np.int64)
    order = _sort_order(radix_key(dense_ranks(first_all)[pidx], head[dt], lrank, a.codes["message"][dt]))
    pidx, tid, dt = pidx[order], tid[order], dt[order]
    out = pd.DataFrame(
        {
            "patient_id": pd.Series(pd.array(np.asarray(codes, dtype=object), dtype="str"))
            .take(pidx)
            .reset_index(drop=True),
            "rows": pd.Series(pd.array(_texts(blocks, keep[order]), dtype="str")),
            **{c: a.column(c, dt) for c in TEMPLATE_COLUMNS},
            "first_row": first_all[pidx],
            "sev_rank": a.sev_rank[dt],
            "order": np.arange(len(tid), dtype=np.int64),
        }
    )
    if want_reports:
        out["obj"] = np.array(t.found + [None], dtype=object)[:-1][tid]
    return out


def _texts(blocks: list[memo.Block], sel: np.ndarray) -> pa.Array:
    """The rows' text of the hits at positions `sel` (over all blocks, in turn), in that order:
    the selected hits' row numbers, in one run, made text at once (Arrow's integer text is
    Python's: plain decimal digits) and `;`-joined per hit as lists."""
    widths = np.concatenate([np.full(len(b.pidx), b.rows.shape[1], dtype=np.int64) for b in blocks])
    flat = np.concatenate([b.rows.ravel() for b in blocks]).astype(np.int64)
    starts = np.cumsum(widths) - widths  # of each hit's rows in `flat`
    w = widths[sel]
    numbers = pc.cast(pa.array(flat[np.repeat(starts[sel], w) + within(w)]), pa.large_string())
    lists = pa.LargeListArray.from_arrays(pa.array(np.r_[0, np.cumsum(w)].astype(np.int64)), numbers)
    return pc.binary_join(lists, pa.scalar(";", pa.large_string()))


def empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    return out.assign(
        first_row=pd.Series([], dtype=np.int64),
        sev_rank=pd.Series([], dtype=np.int64),
        order=pd.Series([], dtype=np.int64),
    )
