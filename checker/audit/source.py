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
import itertools
import operator
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

REQUIRED = ("patient_id", "drug")
MAX_SPAN_LINES = 50  # a quoted value longer than this is a broken quote, not a long note
BLOCK = 4 << 20  # bytes of lines read at a time
csv.field_size_limit(1 << 20)  # a longer cell is that row's error (csv.Error), never the run's


STOP = threading.Event()  # set by the audit's SIGTERM handler (see `_arrow`)


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
    delimiter: str = ","  # ";" or a tab when the header reads only so (spreadsheet exports in many locales)

    @property
    def data_encoding(self) -> str:
        """A byte-order mark is the file's first bytes only: in the data a U+FEFF is text."""
        return "utf-8" if self.encoding == "utf-8-sig" else self.encoding

    def close(self) -> None:
        if self.temporary:
            os.unlink(self.path)


def detect_encoding(path: str, name: str) -> tuple[str, list[str]]:
    """UTF-8 (with or without a byte-order mark); else Windows-1252 when the file has bytes
    0x80-0x9F (there Latin-1 has only control characters, Windows-1252 the quotes, dashes and
    euro sign of spreadsheet exports) and all of them are Windows-1252 characters; else Latin-1."""
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
            seen = set().union(*(set(chunk) for chunk in iter(lambda: fh.read(BLOCK), b"")))
            if not any(0x80 <= b <= 0x9F for b in seen):
                return "latin-1", [f"{name}: not valid UTF-8; read as Latin-1 (ISO-8859-1)"]
            try:
                bytes(b for b in seen if 0x80 <= b <= 0x9F).decode("cp1252")
            except UnicodeDecodeError:
                raise UnreadableInput(
                    f"{name}: neither UTF-8 nor Windows-1252 nor Latin-1 (bytes 0x81, 0x8D, 0x8F, 0x90 or "
                    "0x9D); save the file as UTF-8"
                ) from None
            return "cp1252", [f"{name}: not valid UTF-8; read as Windows-1252"]
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
        delimiter = _delimiter(first, required)
        if delimiter != ",":
            notes.append(f"{shown}: read as {'semicolon' if delimiter == ';' else 'tab'}-separated")
        header = _fields(first, delimiter=delimiter) or []
        columns = [h.strip().lower() or f"column_{i + 1}" for i, h in enumerate(header)]
        if dupes := sorted(c for c, n in Counter(columns).items() if n > 1):
            shown_dupes = ", ".join(dupes[:20]) + (f" and {len(dupes) - 20} more" if len(dupes) > 20 else "")
            raise UnreadableInput(f"{shown}: repeated column names (any case): {shown_dupes}")
        if missing := [c for c in required if c not in columns]:
            found = ", ".join(header[:50]) + (" …" if len(header) > 50 else "")
            raise UnreadableInput(f"{shown}: missing required column(s) {', '.join(missing)}; found: {found}")
        return Source(path, shown, encoding, columns, os.path.getsize(path), temporary, notes, delimiter)
    except BaseException:
        if temporary:
            os.unlink(path)
        raise


def _fields(text: str, strict: bool = False, delimiter: str = ",") -> list[str] | None:
    try:
        return next(csv.reader([text.rstrip("\r\n")], strict=strict, delimiter=delimiter), [])
    except csv.Error:
        return None


def _delimiter(header: str, required: tuple[str, ...]) -> str:
    """The comma, unless only a semicolon or a tab gives the header its required columns (Excel
    writes ";" where the comma is the decimal separator)."""
    for d in (",", ";", "\t"):
        names = {h.strip().lower() for h in _fields(header, delimiter=d) or []}
        if all(c in names for c in required):
            return d
    return ","


Record = tuple[int, tuple[str, ...] | None, str, str | None, tuple[str, ...]]
"""(row number, the cells asked for trimmed or None when refused, patient_id, why refused, the
cells kept as they are)."""


def records(src: Source, trim: list[int], raw: list[int]) -> Iterator[list[Record]]:
    """Every data row of the file, in order, read or refused (see the module docstring), in lists.

    The lines whose quotes balance go to pyarrow's CSV reader, a block at a time (an
    `invalid_row_handler` gives back the rows of the wrong length); the others, rare, to the csv
    module. Equal cells are held once (`shared`): a million rows hold a few thousand distinct."""
    ncols, at = len(src.columns), src.columns.index("patient_id")
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}

    def one(row: int, fields: list[str] | None, why: str | None = None) -> Record:
        if fields is None:
            return row, None, "", why or "not readable as CSV", ()
        pid = fields[at].strip() if len(fields) > at else ""
        if why or len(fields) != ncols:
            return row, None, pid, why or f"expected {ncols} fields, found {len(fields)}", ()
        cells, kept = tuple(fields[i].strip() for i in trim), tuple(fields[i] for i in raw)
        return row, shared.setdefault(cells, cells), pid, None, shared.setdefault(kept, kept)

    def plain(lines: list[bytes], numbers: list[int]) -> list[Record]:
        """Lines whose quotes balance, one row each (numbered `numbers`), not in row order."""
        read = _arrow(src, b"\n".join(lines) + b"\n", trim, raw, shared) if lines else None
        if read is None:
            text = [x.decode(src.data_encoding) for x in lines]
            return [one(n, f) for n, f in zip(numbers, _parse(text, src.delimiter), strict=True)]
        pids, cells, kept, wrong = read
        bad = set(wrong)
        good = [n for k, n in enumerate(numbers, start=1) if k not in bad] if bad else numbers
        out = list(zip(good, cells, pids, itertools.repeat(None), kept, strict=False))
        again = [_fields(lines[k - 1].decode(src.data_encoding), delimiter=src.delimiter) for k in wrong]
        return out + [one(numbers[k - 1], f or [""]) for k, f in zip(wrong, again, strict=True)]

    lines: list[bytes] = []
    row, tail, eof = 0, b"", False
    with open(src.path, "rb") as fh:
        fh.readline()
        while lines or tail or not eof:
            data = b"" if eof else fh.read(BLOCK)
            eof = not data
            more = (tail + data).split(b"\n")
            tail = b"" if eof else more.pop()
            lines += more
            odd = [i for i, x in enumerate(lines) if x.count(b'"') & 1]
            special: dict[int, Record] = {}  # by line: a value over several lines, or a broken quote
            taken: set[int] = set()  # the lines such a value continues on
            cut = len(lines)
            for n, i in enumerate(odd):
                if i in taken:
                    continue
                if i + MAX_SPAN_LINES >= len(lines) and not eof:
                    cut = i  # an open quote near the end: its lines come with the next read
                    break
                end = odd[n + 1] if n + 1 < len(odd) and odd[n + 1] <= i + MAX_SPAN_LINES else None
                text = b"\n".join(lines[i : end + 1]).decode(src.data_encoding) if end is not None else ""
                spanned = _fields(text, strict=True, delimiter=src.delimiter) if end is not None else None
                if spanned is not None and end is not None and len(spanned) == ncols:
                    special[i] = one(0, spanned)
                    taken.update(range(i + 1, end + 1))
                else:
                    guess = _fields(lines[i].decode(src.data_encoding), delimiter=src.delimiter) or [""]
                    special[i] = one(0, guess, "broken quote (a quoted field never closes)")
            keep = [k for k in range(cut) if lines[k].strip(b" \t\r") and k not in special and k not in taken]
            order = np.sort(np.array([*keep, *special], dtype=np.int64))
            out = plain([lines[k] for k in keep], _numbers(order, keep, row))
            out += [
                (n, *r[1:])
                for n, r in zip(_numbers(order, list(special), row), special.values(), strict=True)
            ]
            out.sort(key=operator.itemgetter(0))
            if len(shared) > 100_000:
                shared.clear()
            lines = lines[cut:]
            row += len(out)
            if out:
                yield out


def _numbers(order: np.ndarray, lines: list[int], row: int) -> list[int]:
    """The row numbers of `lines` (indexes into the block), given the block's rows `order`."""
    return (np.searchsorted(order, np.array(lines, dtype=np.int64)) + row + 1).tolist()


def _arrow(
    src: Source, body: bytes, trim: list[int], raw: list[int], shared: dict
) -> tuple[list[str], list[tuple[str, ...]], list[tuple[str, ...]], list[int]] | None:
    """Per read line: patient_id, the `trim` cells trimmed, the `raw` cells; and the (1-based)
    lines of the wrong length. None when pyarrow cannot read the lines."""
    wrong: list[int] = []

    def wrong_length(r: pa_csv.InvalidRow) -> str:
        if r.number is None:
            raise pa.ArrowInvalid("row number unknown")
        wrong.append(r.number)
        return "skip"

    try:
        t = pa_csv.read_csv(
            pa.py_buffer(body),
            read_options=pa_csv.ReadOptions(
                column_names=src.columns,
                use_threads=False,
                block_size=max(len(body) + 1, 1 << 20),
                encoding="utf8" if src.data_encoding == "utf-8" else src.data_encoding,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=src.delimiter, newlines_in_values=False, invalid_row_handler=wrong_length
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(src.columns, pa.string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        if STOP.is_set():  # the SIGTERM handler's SystemExit, which pyarrow turns into ArrowInvalid
            raise SystemExit(128 + signal.SIGTERM) from None
        return None
    pid = pc.utf8_trim_whitespace(t.column(src.columns.index("patient_id"))).to_pylist()
    cells = _distinct([pc.utf8_trim_whitespace(t.column(i)) for i in trim], t.num_rows, shared)
    return pid, cells, _distinct([t.column(i) for i in raw], t.num_rows, shared), wrong


def _distinct(columns: list, n: int, shared: dict) -> list[tuple[str, ...]]:
    """Per row, the tuple of its cells in `columns`: one tuple per distinct combination, made from
    each column's distinct values (dictionary codes), not from a string per cell."""
    if not columns:
        return [()] * n
    if len(columns) > 64:  # many columns: coding each would cost more than it saves
        return [shared.setdefault(t, t) for t in zip(*(c.to_pylist() for c in columns), strict=True)]
    codes, values = [], []
    for col in columns:
        coded = col.combine_chunks().dictionary_encode()
        codes.append(coded.indices.to_numpy())
        values.append(coded.dictionary.to_pylist())
    if np.prod([float(len(v)) for v in values]) < 2.0**62:  # one integer key per row: a quick 1-D unique
        key = np.zeros(n, dtype=np.int64)
        for c, v in zip(codes, values, strict=True):
            key = key * len(v) + c
        first, inverse = np.unique(key, return_index=True, return_inverse=True)[1:]
        uniq = np.stack(codes, axis=1)[first]
    else:
        uniq, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    made = [tuple(v[c] for v, c in zip(values, u, strict=True)) for u in uniq.tolist()]
    made = [shared.setdefault(m, m) for m in made]
    return [made[i] for i in inverse.reshape(-1).tolist()]


def _parse(batch: list[str], delimiter: str = ",") -> list[list[str] | None]:
    """Lines whose quotes balance, one record each: all at once, else (a value left open at a
    line's end, a cell over the size limit) line by line, so that only the bad line is lost."""
    try:
        out: list[list[str] | None] = list(csv.reader(batch, delimiter=delimiter))
        if len(out) == len(batch):
            return out
    except csv.Error:
        pass
    return [_fields(line, False, delimiter) if _one_line(line, delimiter) else None for line in batch]


def _one_line(line: str, delimiter: str) -> bool:
    try:
        return len(list(csv.reader([line], delimiter=delimiter))) == 1
    except csv.Error:
        return False
