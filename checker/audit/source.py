"""The audit's input: which file, its encoding, its header, and its rows, each with its number.

Row numbers are 1-based data-row numbers: the first record after the header is row 1; blank
lines are not rows. A record normally is one line. A line whose quotes do not balance starts a
quoted value over several lines, which must close within MAX_SPAN_LINES lines and give the
header's number of fields; otherwise it is one bad row ("broken quote") and the lines after it
are read as rows of their own, so one bad row never swallows good ones.
"""

from __future__ import annotations

import codecs
import csv
import os
import shutil
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

REQUIRED = ("patient_id", "drug")
MAX_SPAN_LINES = 50  # a quoted value longer than this is a broken quote, not a long note
BLOCK = 16 << 20
BATCH_LINES = 4096
csv.field_size_limit(1 << 20)  # a longer cell is that row's error (csv.Error), never the run's


class UnreadableInput(Exception):
    """The file cannot be audited at all (exit status 2): missing, undecodable, no header."""


@dataclass
class Source:
    path: str
    name: str
    encoding: str
    columns: list[str]  # lower-cased, stripped
    size: int
    temporary: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def data_encoding(self) -> str:
        """A byte-order mark is the file's first bytes only: in the data a U+FEFF is text."""
        return "utf-8" if self.encoding == "utf-8-sig" else self.encoding

    def close(self) -> None:
        if self.temporary:
            os.unlink(self.path)


def detect_encoding(path: str, name: str) -> tuple[str, list[str]]:
    """UTF-8 (with or without a byte-order mark), else Latin-1 when no byte could be a
    Windows-1252 character (0x80-0x9F): guessing between those two would change the text."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
            raise UnreadableInput(f"{name}: looks like UTF-16 or a binary file; save it as UTF-8 CSV")
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for chunk in iter(lambda: fh.read(BLOCK), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            fh.seek(0)
            for chunk in iter(lambda: fh.read(BLOCK), b""):
                if any(0x80 <= b <= 0x9F for b in set(chunk)):
                    raise UnreadableInput(
                        f"{name}: not valid UTF-8, and not unambiguously Latin-1 (it has bytes 0x80-0x9F, "
                        "e.g. Windows-1252); save the file as UTF-8"
                    ) from None
            return "latin-1", [f"{name}: not valid UTF-8; read as Latin-1 (ISO-8859-1)"]
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", [f"{name}: UTF-8 with a byte-order mark"]
    return "utf-8", []


def spool_stdin(folder: str | None = None) -> str:
    """Standard input copied to a file, so it can be read twice; named for its owner (see `outfile`)."""
    fd, path = tempfile.mkstemp(prefix=f"medcheck-{os.getpid()}-stdin-", suffix=".csv", dir=folder)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return path


def open_source(name: str, required: tuple[str, ...] = REQUIRED) -> Source:
    """Resolve the path (or stdin), pick the encoding and read the header."""
    temporary = name == "-"
    path = spool_stdin() if temporary else name
    shown = "stdin" if temporary else name
    try:
        if not os.path.isfile(path):
            raise UnreadableInput(f"cannot read {shown}: no such file")
        try:
            encoding, notes = detect_encoding(path, shown)
            with open(path, encoding=encoding, newline="") as fh:
                first = fh.readline()
        except OSError as exc:
            raise UnreadableInput(f"cannot read {shown}: {exc.strerror}") from None
        if not first.strip():
            raise UnreadableInput(f"{shown}: empty file or no header row")
        header = _fields(first) or []
        columns = [h.strip().lower() or f"column_{i + 1}" for i, h in enumerate(header)]
        if dupes := sorted(c for c, n in Counter(columns).items() if n > 1):
            shown_dupes = ", ".join(dupes[:20]) + (f" and {len(dupes) - 20} more" if len(dupes) > 20 else "")
            raise UnreadableInput(f"{shown}: repeated column names (any case): {shown_dupes}")
        if missing := [c for c in required if c not in columns]:
            found = ", ".join(header[:50]) + (" …" if len(header) > 50 else "")
            raise UnreadableInput(f"{shown}: missing required column(s) {', '.join(missing)}; found: {found}")
        return Source(path, shown, encoding, columns, os.path.getsize(path), temporary, notes)
    except BaseException:
        if temporary:
            os.unlink(path)
        raise


def _fields(text: str, strict: bool = False) -> list[str] | None:
    try:
        return next(csv.reader([text.rstrip("\r\n")], strict=strict), [])
    except csv.Error:
        return None


@dataclass(frozen=True, slots=True)
class Record:
    """One data row: its fields, or why it could not be read (then `pid` is its first guess)."""

    row: int
    fields: list[str] | None
    pid: str
    reason: str | None = None


def records(src: Source) -> Iterator[Record]:
    """Every data row of the file, in order, read or refused (see the module docstring)."""
    ncols, at = len(src.columns), src.columns.index("patient_id")

    def record(row: int, fields: list[str] | None, why: str | None = None) -> Record:
        pid = fields[at].strip() if fields is not None and len(fields) > at else ""
        if fields is not None and len(fields) != ncols:
            why, fields = f"expected {ncols} fields, found {len(fields)}", None
        return Record(row, fields, pid, why)

    row = 0
    with open(src.path, encoding=src.data_encoding, newline="") as fh:
        fh.readline()
        lines: deque[str] = deque()
        ahead = iter(fh)
        while True:
            if not lines:
                lines.extend(next(ahead, None) for _ in range(BATCH_LINES))
                while lines and lines[-1] is None:
                    lines.pop()
                if not lines:
                    return
            batch: list[str] = []
            while lines and lines[0].count('"') % 2 == 0:
                line = lines.popleft()
                if line.strip(" \t\r\n"):
                    batch.append(line)
            for fields in _parse(batch):
                row += 1
                yield record(row, fields, None if fields is not None else "not readable as CSV")
            if not lines:
                continue
            first = lines.popleft()
            more = [lines.popleft() if lines else next(ahead, None) for _ in range(MAX_SPAN_LINES)]
            more = [x for x in more if x is not None]
            end = next((j for j, x in enumerate(more) if x.count('"') % 2), None)
            row += 1
            spanned = _fields(first + "".join(more[: end + 1]), strict=True) if end is not None else None
            if spanned is not None and len(spanned) == ncols:
                lines.extendleft(reversed(more[end + 1 :]))
                yield record(row, spanned)
            else:
                lines.extendleft(reversed(more))
                guess = _fields(first) or [""]
                yield Record(
                    row,
                    None,
                    guess[at].strip() if len(guess) > at else "",
                    "broken quote (a quoted field never closes)",
                )


def _parse(batch: list[str]) -> list[list[str] | None]:
    """Lines whose quotes balance, one record each: all at once, else (a value left open at a
    line's end, a cell over the size limit) line by line, so that only the bad line is lost."""
    try:
        out: list[list[str] | None] = list(csv.reader(batch))
        if len(out) == len(batch):
            return out
    except csv.Error:
        pass
    return [_fields(line, strict=False) if _one_line(line) else None for line in batch]


def _one_line(line: str) -> bool:
    try:
        return len(list(csv.reader([line]))) == 1
    except csv.Error:
        return False
