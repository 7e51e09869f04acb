"""Writing the audit: findings CSV (default), per-patient JSON reports, or a self-contained HTML page.

Every writer receives partitions already in output order and streams them, so output size never
sets memory use (the HTML page keeps only totals and a bounded table).

Writing is split in two so that the costly half can run in the process that audited the partition
(`--workers`): `Writer.render` turns a partition's `Result` into a small picklable payload (the
CSV lines' parts, the JSON reports as text) and `Totals.of` its counters; the writing process
then `put`s payloads (joining the CSV lines as it writes them) and `merge`s counters, in input
order. `write`/`add` are the two halves
run in one place, with the very same bytes.
"""

from __future__ import annotations

import codecs
import heapq
import html
import json
import multiprocessing as mp
import os
import sys
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from checker.engine import knowledge_version, order_summary
from checker.model import SEVERITIES, SEVERITY_RANK

from .assemble import COLUMNS
from .csv_lines import (
    CSV_BATCH_ROWS,
    CSV_THREADS,
    FORMULA_START,
    LinePart,
    joined_lines,
    line_parts,
    utf8_bytes,
)
from .normalize import Variants, row_order
from .outfile import open_fresh, settle

HTML_PATIENTS = 2000
_COLOURS = {
    "contraindicated": "#7b1fa2",
    "major": "#c62828",
    "moderate": "#ef6c00",
    "minor": "#0277bd",
    "info": "#757575",
}


def neutralise(s: pd.Series) -> pd.Series:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    s = s.astype(object).fillna("").astype(str)  # object first: a categorical has no "" to fill with
    risky = s.str[:1].isin(FORMULA_START).to_numpy()
    return s.where(~risky, "'" + s)


def neutral_text(text: str) -> str:
    return "'" + text if text[:1] in FORMULA_START else text


class Totals:
    """Counters for the summary line (and --fail-on, and the JSON summary) and, with `detail`, for
    the HTML page: categories, codes, an example per code, the worst patients. Those cost ~40 ms
    per 200k-row partition (most of it finding the worst patients), so they are counted only
    for the writer that shows them (`Writer.detail`)."""

    def __init__(self) -> None:
        self.rows_read = self.rows_rejected = self.patients = 0
        self.severity: Counter[str] = Counter()
        self.category: dict[str, Counter[str]] = {}
        self.codes: Counter[str] = Counter()
        self.examples: dict[str, tuple[str, str, str]] = {}
        self.worst: list[tuple[int, int, str, int]] = []  # bounded heap of (-rank, -first_row, pid, n)

    @classmethod
    def of(cls, res: Any, detail: bool = True) -> Totals:
        """One partition's counters, to be `merge`d in output order where the output is written."""
        part = cls()
        part.add(res, detail)
        return part

    def merge(self, part: Totals) -> None:
        """Add a partition's counters (`Totals.of`): the same state as `add` of that partition.

        Counters and dicts take new keys in the partition's own order, as `add` would have met
        them; the worst-patients heap keeps the top HTML_PATIENTS of all items it is offered, and a
        partition's items outside its own top HTML_PATIENTS can never be in the overall top."""
        self.rows_read += part.rows_read
        self.rows_rejected += part.rows_rejected
        self.patients += part.patients
        self.severity.update(part.severity)
        for cat, counts in part.category.items():
            self.category.setdefault(cat, Counter()).update(counts)
        self.codes.update(part.codes)
        for code, example in part.examples.items():
            self.examples.setdefault(code, example)
        for item in part.worst:
            self._offer(item)

    def _offer(self, item: tuple[int, int, str, int]) -> None:
        if len(self.worst) < HTML_PATIENTS:
            heapq.heappush(self.worst, item)
        elif item > self.worst[0]:
            heapq.heapreplace(self.worst, item)

    def add(self, res: Any, detail: bool = True) -> None:
        self.rows_read += res.rows_read
        self.rows_rejected += res.rows_rejected
        self.patients += res.patients
        f = res.findings
        if f.empty:
            return
        self.severity.update(_value_counts(f["severity"]))
        if not detail:
            return
        for (cat, sev), n in _pair_counts(f["category"], f["severity"]).items():
            self.category.setdefault(cat, Counter())[sev] += n
        self.codes.update(_value_counts(f["code"]))
        for code, sev, cat, msg in f.drop_duplicates("code")[
            ["code", "severity", "category", "message"]
        ].itertuples(index=False, name=None):
            self.examples.setdefault(code, (sev, cat, msg))
        for pid, rank, first, n in _worst_patients(f).itertuples(index=False, name=None):
            self._offer((-int(rank), -int(first), str(pid), int(n)))

    def at_or_above(self, severity: str) -> int:
        limit = SEVERITY_RANK[severity]
        return sum(n for s, n in self.severity.items() if SEVERITY_RANK[s] <= limit)

    def line(self, encoding: str) -> str:
        sev = ", ".join(f"{self.severity.get(s, 0)} {s}" for s in SEVERITIES)
        checked = self.rows_read - self.rows_rejected
        return (
            f"medcheck audit: {self.rows_read} rows read, {checked} rows checked, {self.rows_rejected} "
            f"rows rejected, {self.patients} patients; findings: {sev} (encoding {encoding})"
        )


def _worst_patients(f: pd.DataFrame) -> pd.DataFrame:
    """This partition's best HTML_PATIENTS patients, which alone can enter the heap, as (patient_id,
    rank, first, n): worst severity rank, first row, findings; in the heap's own order (worst
    severity, then earliest first row, then larger id and count). The rows a stable sort of every
    patient gives, but only patients not after the HTML_PATIENTS-th best (rank, first) are sorted."""
    codes, pids = pd.factorize(f["patient_id"])  # in order of appearance, as groupby(sort=False)
    ok = np.flatnonzero(codes >= 0)
    codes = codes[ok]
    n = np.bincount(codes, minlength=len(pids))
    rank = np.full(len(pids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(rank, codes, f["sev_rank"].to_numpy(np.int64)[ok])
    at = np.full(len(pids), len(f), dtype=np.int64)
    np.minimum.at(at, codes, ok)
    first = f["first_row"].to_numpy(np.int64)[at]
    if len(pids) > HTML_PATIENTS:
        edge = np.lexsort((first, rank))[HTML_PATIENTS - 1]
        cand = np.flatnonzero((rank < rank[edge]) | ((rank == rank[edge]) & (first <= first[edge])))
    else:
        cand = np.arange(len(pids))
    per = pd.DataFrame({"patient_id": pids[cand], "rank": rank[cand], "first": first[cand], "n": n[cand]})
    return per.sort_values(
        ["rank", "first", "patient_id", "n"], ascending=[True, True, False, False], kind="stable"
    ).head(HTML_PATIENTS)


def _value_counts(s: pd.Series) -> dict[str, int]:
    """`value_counts().to_dict()` of a text column as a `str` column gives it, whatever the dtype:
    most frequent first, ties in order of first appearance (a categorical's own `value_counts`
    puts ties in category order, and lists unused categories too). The order is the counters'
    insertion order, which `Counter.most_common` keeps for ties."""
    codes, uniq = pd.factorize(s)
    n = np.bincount(codes[codes >= 0], minlength=len(uniq))
    return {uniq[i]: int(n[i]) for i in np.argsort(-n, kind="stable")}


def _pair_counts(a: pd.Series, b: pd.Series) -> dict[tuple[str, str], int]:
    """`groupby([a, b]).size()` of two text columns as `str` columns give it, whatever the dtype:
    the pairs found, sorted (a categorical's groupby can list unobserved pairs)."""
    ca, ua = pd.factorize(a)
    cb, ub = pd.factorize(b)
    ok = (ca >= 0) & (cb >= 0)
    n = np.bincount(ca[ok].astype(np.int64) * len(ub) + cb[ok], minlength=len(ua) * len(ub))
    found = {(ua[k // len(ub)], ub[k % len(ub)]): int(n[k]) for k in np.flatnonzero(n)}
    return dict(sorted(found.items()))


class Writer:
    """Streams partitions' findings in the order given. `render` may run in another process."""

    detail = False  # does `close` read the Totals' detail (see Totals)?

    def __init__(self, stream: IO[str], keep: list[str]):
        self.stream, self.keep = stream, keep

    def render(self, res: Any) -> Any:
        """A partition's output as a picklable payload for `put` (no stream is touched)."""
        return None

    def put(self, payload: Any) -> None:
        """Write one partition's payload from `render`; partitions come in output order."""

    def write(self, res: Any) -> None:
        self.put(self.render(res))

    def close(self, totals: Totals) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()
        else:
            self.stream.flush()
        settle()

    def discard(self) -> None:
        """Close without finishing the document: the run starts over in a fresh writer."""
        if self.stream is not sys.stdout:
            self.stream.close()


class CsvWriter(Writer):
    def __init__(self, stream: IO[str], keep: list[str]):
        super().__init__(stream, keep)
        pd.DataFrame(columns=[*COLUMNS, *keep]).to_csv(stream, index=False, lineterminator="\n")

    def render(self, res: Any) -> CsvLines | str:
        """The findings' CSV lines as parts, joined when put; text for a lone column."""
        f = res.findings
        names = [*COLUMNS, *self.keep]
        if f.empty:
            return ""
        if len(names) < 2:  # the csv module writes a lone empty field as "": keep its own writer
            out = pd.DataFrame({c: neutralise(f[c]) for c in names})
            return out.to_csv(index=False, header=False, lineterminator="\n")
        # Batches are built two at once (Arrow's kernels release the GIL) where the partition was
        # audited in this process, but one at a time while pool workers keep the CPUs busy.
        threads = 1 if mp.parent_process() is not None else CSV_THREADS
        return CsvLines(line_parts([f[c] for c in names]), len(f), threads)

    def put(self, payload: CsvLines | str) -> None:
        """The lines' bytes as they are when the stream would write them as UTF-8 without newline
        translation (no decode/encode of ~400 MB), else as text: the same bytes either way."""
        if isinstance(payload, str):
            self.stream.write(payload)
            return
        raw = getattr(self.stream, "buffer", None)
        direct = (
            raw is not None
            and _is_utf8(self.stream)
            and (self.stream is not sys.stdout or os.linesep == "\n")
        )
        for data in payload.batches():
            if direct:
                self.stream.flush()
                raw.write(data)
            else:
                self.stream.write(data.to_pybytes().decode("utf-8"))


@dataclass
class CsvLines:
    """A partition's CSV lines before they are joined: their parts (`line_parts`: the repeated
    columns written once per distinct value), joined batch by batch as they are written. So only
    the parts, a tenth of the text's bytes, cross from a worker to the writing process, and each
    batch's memory is taken again by the next instead of fresh pages for a partition's whole text."""

    parts: list[LinePart]
    n: int
    threads: int = CSV_THREADS

    def batches(self) -> Iterator[pa.Buffer]:
        """The lines' UTF-8 bytes, CSV_BATCH_ROWS lines at a time, in order. The threads end with
        the last batch, so none outlives it into a worker's fork."""
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            pending: deque[Future[pa.Array]] = deque()
            for lo in range(0, self.n, CSV_BATCH_ROWS):
                if len(pending) == self.threads:
                    yield utf8_bytes(pending.popleft().result())
                pending.append(pool.submit(joined_lines, self.parts, lo, min(lo + CSV_BATCH_ROWS, self.n)))
            while pending:
                yield utf8_bytes(pending.popleft().result())


def _is_utf8(stream: IO[str]) -> bool:
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name == "utf-8"
    except LookupError:
        return False


class JsonWriter(Writer):
    """{"knowledge_version", "patients": [per-patient report ...], "summary"} written as it goes."""

    def __init__(self, stream: IO[str], keep: list[str]):
        super().__init__(stream, keep)
        stream.write(f'{{"knowledge_version": {json.dumps(knowledge_version())}, "patients": [')
        self.first = True

    def render(self, res: Any) -> str:
        """The partition's reports, `,\n`-separated (the separator before the first is `put`'s)."""
        return ",\n".join(json.dumps(rep, ensure_ascii=False, default=str) for rep in res.reports or ())

    def put(self, payload: str) -> None:
        if payload:
            self.stream.write(("\n" if self.first else ",\n") + payload)
            self.first = False

    def close(self, totals: Totals) -> None:
        summary = {
            "rows_read": totals.rows_read,
            "rows_checked": totals.rows_read - totals.rows_rejected,
            "rows_rejected": totals.rows_rejected,
            "patients": totals.patients,
            "findings": {s: totals.severity.get(s, 0) for s in SEVERITIES},
        }
        self.stream.write(f'\n], "summary": {json.dumps(summary)}}}\n')
        super().close(totals)


class HtmlWriter(Writer):
    """The page is all totals: partitions put nothing."""

    detail = True

    def close(self, totals: Totals) -> None:
        self.stream.write(render_html(totals))
        super().close(totals)


def open_writer(target: str | None, keep: list[str]) -> Writer:
    """Pick the writer by the output name's extension; stdout gets CSV."""
    if not target or target == "-":
        return CsvWriter(sys.stdout, keep)
    stream = open_fresh(target)
    low = target.lower()
    if low.endswith(".json"):
        return JsonWriter(stream, keep)
    if low.endswith((".html", ".htm")):
        return HtmlWriter(stream, keep)
    return CsvWriter(stream, keep)


def patient_reports(out: pd.DataFrame, acc: pd.DataFrame, v: Variants, firsts: pd.Series) -> list[dict]:
    """The engine's report per patient, with input row numbers beside every medication index."""
    by_patient = {pid: g for pid, g in out.groupby("patient_id", sort=False)} if len(out) else {}
    rows_of = {pid: g for pid, g in acc.groupby("patient_id", sort=False)} if len(acc) else {}
    reports = []
    for pid, first in firsts.sort_values().items():
        mine = rows_of.get(pid)
        local = {} if mine is None else dict(zip(mine["_row"].tolist(), mine["local"].tolist(), strict=True))
        meds = (
            []
            if mine is None
            else [
                {**order_summary(row_order(v, vid, loc, w)), "row": r}
                for vid, loc, w, r in zip(
                    mine["vid"], mine["local"], mine["weight"], mine["_row"], strict=True
                )
            ]
        )
        findings = []
        g = by_patient.get(pid)
        for obj, rows in [] if g is None else zip(g["obj"], g["rows"], strict=True):
            rws = [int(x) for x in rows.split(";")] if rows else []
            d = obj.to_dict()
            d["medications"] = [local[r] for r in rws if r in local]
            d["rows"] = rws
            findings.append(d)
        counts = dict.fromkeys(SEVERITIES, 0)
        for d in findings:
            counts[d["severity"]] += 1
        reports.append(
            {
                "patient_id": pid,
                "first_row": int(first),
                "highest_severity": findings[0]["severity"] if findings else None,
                "counts": counts,
                "findings": findings,
                "medications": meds,
            }
        )
    return reports


def _bars(counter: Counter[str], total: int) -> str:
    out = []
    for s in SEVERITIES:
        n = counter.get(s, 0)
        width = 0 if not total else max(1 if n else 0, round(300 * n / total))
        out.append(
            f'<span class="bar" title="{s}: {n}" style="width:{width}px;background:{_COLOURS[s]}"></span>'
        )
    return "".join(out)


def render_html(t: Totals) -> str:
    """One page, no scripts or links: totals, severity/category bars, frequent findings, patients."""
    e = html.escape
    total = sum(t.severity.values())
    sev_rows = "".join(
        f"<tr><td>{s}</td><td class=n>{t.severity.get(s, 0)}</td><td>"
        f'<span class="bar" style="width:{0 if not total else round(400 * t.severity.get(s, 0) / total)}px;'
        f'background:{_COLOURS[s]}"></span></td></tr>'
        for s in SEVERITIES
    )
    cmax = max((sum(c.values()) for c in t.category.values()), default=0)
    cat_rows = "".join(
        f"<tr><td>{e(cat)}</td><td class=n>{sum(c.values())}</td><td>{_bars(c, cmax)}</td></tr>"
        for cat, c in sorted(t.category.items(), key=lambda kv: -sum(kv[1].values()))
    )
    top = "".join(
        f"<tr><td>{e(neutral_text(code))}</td><td>{t.examples[code][0]}</td><td>{e(t.examples[code][1])}</td>"
        f"<td class=n>{n}</td><td>{e(neutral_text(t.examples[code][2]))}</td></tr>"
        for code, n in t.codes.most_common(20)
    )
    worst = sorted(t.worst, reverse=True)
    pts = "".join(
        f"<tr><td>{e(neutral_text(pid))}</td>"
        f'<td><span class="dot" style="background:{_COLOURS[SEVERITIES[-r]]}">'
        f"</span>{SEVERITIES[-r]}</td><td class=n>{n}</td><td class=n>{-fr}</td></tr>"
        for r, fr, pid, n in worst
    )
    with_findings = len(t.worst)
    more = (
        f"<p>Showing the {len(worst)} patients with the most serious findings.</p>"
        if with_findings >= HTML_PATIENTS
        else ""
    )
    legend = " ".join(f'<span class="dot" style="background:{_COLOURS[s]}"></span>{s}' for s in SEVERITIES)
    checked = t.rows_read - t.rows_rejected
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>medcheck audit</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}
.n{{text-align:right}}
.bar{{display:inline-block;height:14px}} .dot{{display:inline-block;width:10px;height:10px;border-radius:5px;
margin-right:4px}} .tot td{{font-size:18px}}
</style></head><body>
<h1>medcheck audit</h1>
<p>Knowledge {e(knowledge_version())}</p>
<table class="tot"><tr><td>rows read</td><td class=n>{t.rows_read}</td></tr>
<tr><td>rows checked</td><td class=n>{checked}</td></tr>
<tr><td>rows rejected</td><td class=n>{t.rows_rejected}</td></tr>
<tr><td>patients</td><td class=n>{t.patients}</td></tr>
<tr><td>findings</td><td class=n>{total}</td></tr></table>
<h2>Findings by severity</h2><table>{sev_rows}</table>
<h2>Findings by category</h2><p>{legend}</p><table>{cat_rows}</table>
<h2>Most frequent findings</h2>
<table><tr><th>code</th><th>severity</th><th>category</th><th>count</th><th>example</th></tr>{top}</table>
<h2>Patients by highest severity</h2>{more}
<table><tr><th>patient</th><th>highest severity</th><th>findings</th><th>first row</th></tr>{pts}</table>
</body></html>
"""
