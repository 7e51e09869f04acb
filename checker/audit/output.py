"""Writing the audit: a findings CSV (default), per-patient JSON reports, or a self-contained HTML page.

A file appears at its path only when complete: it is written to a temporary file in the same
folder, named for the process that owns it, and renamed over the path at the end. A killed run
leaves the earlier output as it was; its temporary file is removed by the next run as soon as
its owner is dead.
"""

from __future__ import annotations

import csv
import glob
import heapq
import html
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from checker.engine import knowledge_version
from checker.model import SEVERITIES, SEVERITY_RANK

from .core import COLUMNS, Part, neutral

SUFFIXES = {".csv": "csv", ".json": "json", ".html": "html", ".htm": "html", "": "csv"}
HTML_PATIENTS = 2000
_OWNED = re.compile(r"medcheck-(\d+)-")
_COLOURS = dict(zip(SEVERITIES, ("#7b1fa2", "#c62828", "#ef6c00", "#0277bd", "#757575"), strict=True))


class UsageError(Exception):
    """Bad arguments (exit status 2)."""


def output_kind(target: str | None) -> str:
    if target in (None, "-"):
        return "csv"
    kind = SUFFIXES.get(os.path.splitext(target)[1].lower())
    if kind is None:
        raise UsageError(f"{target}: unknown output type; name a .csv, .json or .html file")
    return kind


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: str) -> None:
    """Temporary files and folders of audits whose process is gone (killed, or the machine stopped)."""
    for path in glob.glob(os.path.join(folder, "*medcheck-*-*")) + glob.glob(
        os.path.join(folder, ".*medcheck-*-*")
    ):
        m = _OWNED.search(os.path.basename(path))
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class Target:
    """Where the output goes: standard output, a device or pipe as it is, or a regular file by rename."""

    def __init__(self, target: str | None):
        self.path: str | None = None
        self.tmp: str | None = None
        self.writing: str | None = None  # the path written to: the temporary file, or a device
        if target in (None, "-"):
            self.stream: IO[str] = sys.stdout
            return
        self.path = os.path.realpath(target)  # a symlink's target is replaced, not the link
        if os.path.exists(self.path) and not stat.S_ISREG(os.stat(self.path).st_mode):
            self.writing, self.path = self.path, None
            self.stream = open(self.writing, "w", encoding="utf-8", newline="")  # noqa: SIM115
            return
        folder, base = os.path.split(self.path)
        remove_stale(folder)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.medcheck-{os.getpid()}-", dir=folder)
        self.writing = self.tmp
        self.stream = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115

    def commit(self) -> None:
        """Flush, and put the complete file in place (the earlier file's permissions kept)."""
        if self.stream is sys.stdout:
            self.stream.flush()
            return
        self.stream.close()
        if self.tmp and self.path:
            if os.path.exists(self.path):
                mode = stat.S_IMODE(os.stat(self.path).st_mode)
            else:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(self.tmp, mode)
            os.replace(self.tmp, self.path)
            self.tmp = None

    def discard(self) -> None:
        if self.stream is not sys.stdout:
            try:
                self.stream.close()
            except OSError:
                pass
        if self.tmp:
            _unlink(self.tmp)
            self.tmp = None


class Totals:
    """The counters of the summary line, --fail-on and the JSON summary."""

    def __init__(self) -> None:
        self.rows_read = self.rows_rejected = self.patients = 0
        self.severity: Counter[str] = Counter()

    def add(self, part: Part) -> None:
        self.rows_read += part.rows_read
        self.rows_rejected += part.rows_rejected
        self.patients += part.patients
        self.severity.update(part.severity)

    def at_or_above(self, severity: str) -> int:
        return sum(n for s, n in self.severity.items() if SEVERITY_RANK[s] <= SEVERITY_RANK[severity])

    def summary(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_checked": self.rows_read - self.rows_rejected,
            "rows_rejected": self.rows_rejected,
            "patients": self.patients,
            "findings": {s: self.severity.get(s, 0) for s in SEVERITIES},
        }

    def line(self, encoding: str) -> str:
        sev = ", ".join(f"{self.severity.get(s, 0)} {s}" for s in SEVERITIES)
        checked = self.rows_read - self.rows_rejected
        return (
            f"medcheck audit: {self.rows_read} rows read, {checked} rows checked, {self.rows_rejected} rows "
            f"rejected, {self.patients} patients; findings: {sev} (encoding {encoding})"
        )


class Writer:
    """Streams batches' output in the order given, then finishes the document and puts it in place."""

    def __init__(self, target: str | None, kind: str, keep: tuple[str, ...]):
        self.kind, self.first = kind, True
        self.out = Target(target)
        if kind == "csv":
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow([neutral(c) for c in (*COLUMNS, *keep)])
            self.out.stream.write(header.getvalue())
        elif kind == "json":
            self.out.stream.write(f'{{"knowledge_version": {json.dumps(knowledge_version())}, "patients": [')
        else:  # the page is written at the end, from the findings kept in an unnamed file meanwhile
            self.spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115

    def put(self, part: Part) -> None:
        if self.kind == "csv":
            self.out.stream.write(part.csv)
        elif self.kind == "json":
            for text in part.json:
                self.out.stream.write(("\n" if self.first else ",\n") + text)
                self.first = False
        else:
            self.spool.write(part.csv)

    def finish(self, totals: Totals) -> None:
        if self.kind == "json":
            self.out.stream.write(f'\n], "summary": {json.dumps(totals.summary())}}}\n')
        elif self.kind == "html":
            self.spool.seek(0)
            names = ("patient_id", "rows", "severity", "category", "code")
            rows = (dict(zip(names, r, strict=False)) for r in csv.reader(self.spool))
            self.out.stream.close()  # empty: the page is written whole, by path
            write_html(rows, totals.summary(), self.out.writing or "/dev/stdout")
            self.spool.close()
        self.out.commit()

    def discard(self) -> None:
        self.out.discard()


def write_html(findings_rows: Iterable[dict[str, str]], meta: dict[str, Any], path: str) -> None:
    """The HTML report of findings rows (the CSV columns) and the run's summary (`Totals.summary`)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_html(findings_rows, meta))


def render_html(findings_rows: Iterable[dict[str, str]], meta: dict[str, Any]) -> str:
    """One page, no scripts or links: totals, findings by severity and category, frequent findings,
    the patients with the most serious findings. Memory follows the distinct codes, not the rows:
    a patient's findings come together, so only the HTML_PATIENTS worst patients are kept."""
    e = html.escape
    by_cat: dict[str, Counter[str]] = {}
    codes: Counter[str] = Counter()
    example: dict[str, tuple[str, str]] = {}
    worst: list[tuple[int, int, str, int]] = []  # a heap of the best: (-rank, -first row, pid, findings)
    shown = 0

    def done(pid: str | None, w: list[int]) -> None:
        nonlocal shown
        if pid is not None:
            shown += 1
            item = (-w[0], -w[1], pid, w[2])
            (heapq.heappush if len(worst) < HTML_PATIENTS else heapq.heappushpop)(worst, item)

    pid: str | None = None
    w = [0, 0, 0]  # the current patient's best severity rank, first row, findings
    for r in findings_rows:
        sev, cat, code = r["severity"], r["category"], r["code"]
        by_cat.setdefault(cat, Counter())[sev] += 1
        codes[code] += 1
        example.setdefault(code, (sev, cat))
        first = min((int(x) for x in r["rows"].split(";") if x.isdigit()), default=1 << 62)
        if r["patient_id"] != pid:
            done(pid, w)
            pid, w = r["patient_id"], [SEVERITY_RANK[sev], first, 0]
        w[0], w[1], w[2] = min(w[0], SEVERITY_RANK[sev]), min(w[1], first), w[2] + 1
    done(pid, w)
    counts = meta["findings"]
    total = sum(counts.values())

    def bar(n: int, of: int, sev: str, width: int = 400) -> str:
        px = 0 if not of else max(1 if n else 0, round(width * n / of))
        return f'<span class="bar" title="{sev}: {n}" style="width:{px}px;background:{_COLOURS[sev]}"></span>'

    sev_rows = "".join(
        f"<tr><td>{s}</td><td class=n>{counts[s]}</td><td>{bar(counts[s], total, s)}</td></tr>"
        for s in SEVERITIES
    )
    cmax = max((sum(c.values()) for c in by_cat.values()), default=0)
    cat_rows = "".join(
        f"<tr><td>{e(cat)}</td><td class=n>{sum(c.values())}</td><td>"
        + "".join(bar(c.get(s, 0), cmax, s, 300) for s in SEVERITIES)
        + "</td></tr>"
        for cat, c in sorted(by_cat.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    )
    top = "".join(
        f"<tr><td>{e(code)}</td><td>{example[code][0]}</td><td>{e(example[code][1])}</td>"
        f"<td class=n>{n}</td></tr>"
        for code, n in codes.most_common(20)
    )
    pts = "".join(
        f'<tr><td>{e(p)}</td><td><span class="dot" style="background:{_COLOURS[SEVERITIES[-r]]}">'
        f"</span>{SEVERITIES[-r]}</td><td class=n>{n}</td><td class=n>{-f if -f < 1 << 62 else ''}</td></tr>"
        for r, f, p, n in sorted(worst, reverse=True)
    )
    more = (
        f"<p>Showing the {HTML_PATIENTS} patients with the most serious findings.</p>"
        if shown > HTML_PATIENTS
        else ""
    )
    legend = " ".join(f'<span class="dot" style="background:{_COLOURS[s]}"></span>{s}' for s in SEVERITIES)
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
<table class="tot"><tr><td>rows read</td><td class=n>{meta["rows_read"]}</td></tr>
<tr><td>rows checked</td><td class=n>{meta["rows_checked"]}</td></tr>
<tr><td>rows rejected</td><td class=n>{meta["rows_rejected"]}</td></tr>
<tr><td>patients</td><td class=n>{meta["patients"]}</td></tr>
<tr><td>findings</td><td class=n>{total}</td></tr></table>
<h2>Findings by severity</h2><table>{sev_rows}</table>
<h2>Findings by category</h2><p>{legend}</p><table>{cat_rows}</table>
<h2>Most frequent findings</h2>
<table><tr><th>code</th><th>severity</th><th>category</th><th>count</th></tr>{top}</table>
<h2>Patients by highest severity</h2>{more}
<table><tr><th>patient</th><th>highest severity</th><th>findings</th><th>first row</th></tr>{pts}</table>
</body></html>
"""
