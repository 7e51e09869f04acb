"""Reading a medications CSV in blocks, with every data row accounted for.

Row numbers are 1-based data-row numbers: the first record after the header is row 1, and
blank lines are not rows (pandas skips them too). Each block of whole lines is scanned with
numpy first (line ends, quotes, commas outside quotes), so a row with the wrong number of
fields is known by its number before pandas' C parser reads the block. A block with a line
whose quotes do not balance (a broken quote, or a quoted value spanning lines) is read by a
careful line-by-line parser instead, which re-reads the lines a broken quote would swallow.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BLOCK_BYTES = 64 << 20
MAX_SPAN_LINES = 50  # a quoted value longer than this is a broken quote, not a long note
REQUIRED = ("patient_id", "drug")
_WS = frozenset(b" \t\r")


class UnreadableInput(Exception):
    """The file cannot be audited at all (exit status 2): missing, undecodable, no header."""


@dataclass
class Source:
    """A CSV on disk (stdin is spooled to a temporary file so it can be read twice)."""

    path: str
    name: str
    encoding: str
    size: int
    header: list[str]
    columns: list[str]  # lower-cased, stripped
    header_bytes: int
    temporary: bool = False
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.temporary:
            os.unlink(self.path)


@dataclass
class Block:
    """Rows read from one block: accepted-for-parsing rows, and rows that could not be read."""

    rows: pd.DataFrame  # canonical column names + "_row"
    bad: pd.DataFrame  # _row, patient_id, reason
    last_row: int
    bytes_done: int = 0


def spool_stdin() -> str:
    fd, path = tempfile.mkstemp(prefix="medcheck-stdin-", suffix=".csv")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return path


def detect_encoding(path: str, name: str) -> tuple[str, list[str]]:
    """UTF-8, then UTF-8 with BOM, then Latin-1 when no byte could be a Windows-1252 character."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
            raise UnreadableInput(f"{name}: looks like UTF-16 or a binary file; save it as UTF-8 CSV")
        bom = head.startswith(codecs.BOM_UTF8)
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for chunk in iter(lambda: fh.read(BLOCK_BYTES), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            bad_at = exc.start
        else:
            return ("utf-8-sig", [f"{name}: UTF-8 with a byte-order mark"]) if bom else ("utf-8", [])
        fh.seek(0)
        for chunk in iter(lambda: fh.read(BLOCK_BYTES), b""):
            a = np.frombuffer(chunk, dtype=np.uint8)
            if np.any((a >= 0x80) & (a <= 0x9F)):
                raise UnreadableInput(
                    f"{name}: not valid UTF-8 (first bad byte near offset {bad_at} of its block), and "
                    "not unambiguously Latin-1 (it has bytes 0x80-0x9F, e.g. Windows-1252); "
                    "save the file as UTF-8"
                )
    return "latin-1", [f"{name}: not valid UTF-8; read as Latin-1 (ISO-8859-1)"]


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
            with open(path, "rb") as fh:
                first = fh.readline()
        except OSError as exc:
            raise UnreadableInput(f"cannot read {shown}: {exc.strerror}") from None
        if not first.strip():
            raise UnreadableInput(f"{shown}: empty file or no header row")
        header = next(csv.reader([first.decode(encoding).rstrip("\r\n")]))
        columns = [h.strip().lower() or f"column_{i + 1}" for i, h in enumerate(header)]
        if len(set(columns)) != len(columns):
            dupes = sorted({c for c in columns if columns.count(c) > 1})
            raise UnreadableInput(f"{shown}: repeated column names (any case): {', '.join(dupes)}")
        if missing := [c for c in required if c not in columns]:
            raise UnreadableInput(
                f"{shown}: missing required column(s) {', '.join(missing)}; found: {', '.join(header)}"
            )
        return Source(
            path, shown, encoding, os.path.getsize(path), header, columns, len(first), temporary, notes
        )
    except BaseException:
        if temporary:
            os.unlink(path)
        raise


def iter_blocks(
    src: Source, block_bytes: int | Callable[[int], int] = BLOCK_BYTES, only: tuple[str, ...] = ()
) -> Iterator[Block]:
    """Yield the file as blocks of whole lines, parsed, with each row's data-row number.

    `block_bytes` may be a function of the bytes read so far, so that a reader feeding parallel
    workers can take smaller blocks towards the end (the rows are the same for any block sizes).
    `only` (column names, with patient_id) limits which columns the C parser turns into values
    when a pass needs no more (e.g. the sortedness check): the rows, their numbers and the bad
    rows are the same; only the other columns may be missing from `rows`."""
    row = 0
    done = src.header_bytes
    carry = b""
    with open(src.path, "rb") as fh:
        fh.seek(src.header_bytes)
        while True:
            chunk = fh.read(block_bytes(done) if callable(block_bytes) else block_bytes)
            final = not chunk
            data = carry + chunk
            if not data:
                break
            cut = len(data) if final else data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: keep reading
                carry = data
                continue
            body, carry = data[:cut], data[cut:]
            if not body.endswith(b"\n"):
                body += b"\n"
            block, left = _parse(body, src, row, final, only)
            if left:  # an open quote at the end of the block continues in the next one
                carry = body[len(body) - left :] + carry
            done += cut - left
            row = block.last_row
            block.bytes_done = min(done, src.size)
            yield block
            if final:
                break


def _parse(body: bytes, src: Source, row: int, final: bool, only: tuple[str, ...] = ()) -> tuple[Block, int]:
    """Plain lines go to the C parser in one go; only lines with unbalanced quotes are walked."""
    a = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    starts = np.r_[0, nl[:-1] + 1]
    qcount = np.bincount(np.searchsorted(nl, np.flatnonzero(a == 34)), minlength=len(nl))
    blank = _blank_lines(a, starts, nl)
    odd = np.flatnonzero(qcount % 2)
    special: dict[int, tuple] = {}
    consumed = np.zeros(len(nl), dtype=bool)
    left = 0
    if len(odd):
        left = _walk(body, src, starts, nl, qcount, odd, special, consumed, final)
    n_lines = len(nl) if not left else int(np.searchsorted(starts, len(body) - left))
    plain = ~blank & ~consumed
    plain[n_lines:] = False
    for i in special:
        plain[i] = False
    counted = (plain | np.isin(np.arange(len(nl)), list(special)))[:n_lines]
    numbers = np.zeros(len(nl), dtype=np.int64)
    numbers[:n_lines][counted] = row + np.arange(1, int(counted.sum()) + 1)
    if plain.all() and not left:
        block = _fast(body, src, numbers, only)
    else:
        keep_bytes = np.repeat(plain, np.diff(np.r_[starts, len(body)]))
        block = (
            _fast(a[keep_bytes].tobytes(), src, numbers[plain], only)
            if plain.any()
            else _block([], [], [], src, row)
        )
    block = _add_special(block, special, numbers, src)
    block.last_row = row + int(counted.sum())
    return block, left


def _walk(
    body: bytes,
    src: Source,
    starts: np.ndarray,
    nl: np.ndarray,
    qcount: np.ndarray,
    odd: np.ndarray,
    special: dict[int, tuple],
    consumed: np.ndarray,
    final: bool,
) -> int:
    """Follow each line whose quotes do not balance: a quoted value over several lines, or a broken
    quote. Returns how many bytes at the end must wait for the next block."""
    ncols, pid = len(src.columns), src.columns.index("patient_id")

    def text(i: int, j: int) -> str:
        return body[starts[i] : nl[j]].decode(src.encoding).replace("\r\n", "\n").rstrip("\r")

    k, n = 0, len(nl)
    while k < len(odd):
        i = int(odd[k])
        if consumed[i]:
            k += 1
            continue
        j, count = i, int(qcount[i])
        while count % 2 and j + 1 < n and j - i < MAX_SPAN_LINES:
            j += 1
            count += int(qcount[j])
        if count % 2 and j + 1 == n and not final and j - i < MAX_SPAN_LINES:
            return len(body) - int(starts[i])
        strict = _split_strict(text(i, j)) if j > i else None
        fields = strict if strict is not None else _split(text(i, j))
        who = fields[pid] if len(fields) > pid else ""
        if count % 2 or (j > i and (strict is None or len(fields) != ncols)):
            first = _split(text(i, i))
            special[i] = (
                "bad",
                first[pid] if len(first) > pid else "",
                "broken quote (a quoted field never closes)",
            )
            k += 1
            continue
        special[i] = (
            ("good", fields)
            if len(fields) == ncols
            else ("bad", who, f"expected {ncols} fields, found {len(fields)}")
        )  # noqa: E501
        consumed[i + 1 : j + 1] = True
        k += 1
    return 0


def _add_special(block: Block, special: dict[int, tuple], numbers: np.ndarray, src: Source) -> Block:
    if not special:
        return block
    good = [(int(numbers[i]), v[1]) for i, v in special.items() if v[0] == "good"]
    bad = [(int(numbers[i]), v[1], v[2]) for i, v in special.items() if v[0] == "bad"]
    extra = _block([g for _, g in good], [r for r, _ in good], bad, src, 0)
    rows = pd.concat([block.rows, extra.rows], ignore_index=True).sort_values("_row", kind="stable")
    bads = pd.concat([block.bad, extra.bad], ignore_index=True).sort_values("_row", kind="stable")
    return Block(rows.reset_index(drop=True), bads.reset_index(drop=True), 0)


def _blank_lines(a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines of only spaces, tabs or CR; pandas' C parser skips exactly these."""
    empty = ends == starts
    maybe = ~empty
    maybe[maybe] = np.isin(a[starts[maybe]], (32, 9, 13))
    blank = empty.copy()
    for i in np.flatnonzero(maybe):  # only lines that start with white space: rare
        blank[i] = all(b in _WS for b in a[starts[i] : ends[i]].tobytes())
    return blank


def _fast(body: bytes, src: Source, numbers: np.ndarray, only: tuple[str, ...] = ()) -> Block:
    """Lines whose quotes balance: fields counted outside quotes with numpy, values by the C parser."""
    a = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    starts = np.r_[0, nl[:-1] + 1]
    blank = _blank_lines(a, starts, nl)
    fields = (_commas_outside_quotes(a, nl) + 1)[~blank]
    rows = numbers[~blank] if len(numbers) == len(nl) else numbers
    ncols = len(src.columns)
    extra = [f"_extra{i}" for i in range(max(0, int(fields.max(initial=0)) - ncols))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a row longer than its names
            df = pd.read_csv(
                io.BytesIO(body),
                header=None,
                names=src.columns + extra,
                usecols=[*only, *extra] if only else None,
                dtype=str,
                keep_default_na=False,
                na_values=[],
                index_col=False,
                encoding=src.encoding,
                skip_blank_lines=True,
                engine="c",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        df = None
    if df is None or len(df) != len(rows):  # stray quotes inside fields: read these lines one by one
        return _by_line(body, src, rows)
    ok = fields == ncols
    if extra:
        ok &= (df[extra] == "").all(axis=1).to_numpy()
        df = df.drop(columns=extra)
    bad = pd.DataFrame(
        {
            "_row": rows[~ok],
            "patient_id": df["patient_id"].to_numpy()[~ok],
            "reason": [f"expected {ncols} fields, found {n}" for n in fields[~ok]],
        }
    )
    df = df[ok]
    df.insert(0, "_row", rows[ok])
    return Block(df.reset_index(drop=True), bad, 0)


def _commas_outside_quotes(a: np.ndarray, nl: np.ndarray) -> np.ndarray:
    """Per line, the commas not inside a quoted value, for lines whose quotes balance.

    Each line's quotes pair up within it, so a comma is quoted exactly when it lies between a
    pair's opening (even-numbered) and closing quote. The commas before each line end are found by
    searching the few line ends (and quotes) among the many commas, not each comma among the
    lines: the cost follows the number of lines, not of fields."""
    commas = np.flatnonzero(a == 44)
    count = np.diff(np.searchsorted(commas, nl), prepend=0)
    q = np.flatnonzero(a == 34)
    if len(q) % 2:  # not expected here (callers pass balanced lines): count the slow, general way
        outside = commas[np.searchsorted(q, commas) % 2 == 0]
        return np.bincount(np.searchsorted(nl, outside), minlength=len(nl))
    if len(q):
        opens, closes = q[0::2], q[1::2]
        inside = np.searchsorted(commas, closes) - np.searchsorted(commas, opens)
        count -= np.bincount(np.searchsorted(nl, opens), weights=inside, minlength=len(nl)).astype(np.int64)
    return count


def _by_line(body: bytes, src: Source, rows: np.ndarray) -> Block:
    lines = [x for x in body.decode(src.encoding).split("\n")[:-1] if x.strip(" \t\r")]
    ncols, pid = len(src.columns), src.columns.index("patient_id")
    good, good_rows, bad = [], [], []
    for r, line in zip(rows.tolist(), lines, strict=True):
        fields = _split(line.rstrip("\r"))
        if len(fields) == ncols:
            good.append(fields)
            good_rows.append(r)
        else:
            bad.append(
                (r, fields[pid] if len(fields) > pid else "", f"expected {ncols} fields, found {len(fields)}")
            )
    return _block(good, good_rows, bad, src, 0)


def _split_strict(record: str) -> list[str] | None:
    """RFC 4180 reading: a closing quote must end its field, else the quote was a broken one."""
    try:
        return next(csv.reader(io.StringIO(record), strict=True), [])
    except csv.Error:
        return None


def _split(record: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(record), strict=False), [])
    except csv.Error:
        return [record]


def _block(
    good: list[list[str]], rows: list[int], bad: list[tuple[int, str, str]], src: Source, last_row: int
) -> Block:
    df = (
        pd.DataFrame(good, columns=src.columns, dtype=str)
        if good
        else pd.DataFrame({c: pd.Series([], dtype=str) for c in src.columns})
    )
    df.insert(0, "_row", np.asarray(rows, dtype=np.int64))
    b = pd.DataFrame(bad, columns=["_row", "patient_id", "reason"])
    b["_row"] = b["_row"].astype(np.int64)
    return Block(df, b, last_row)
