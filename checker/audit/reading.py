"""Reading a medications CSV in blocks, with every data row accounted for.

Row numbers are 1-based data-row numbers: the first record after the header is row 1, and
blank lines are not rows (pandas skips them too). Each block of whole lines is scanned with
numpy first (line ends, quotes), so every row has its number before any parser reads the block;
a row with the wrong number of fields keeps it as a bad row. A block with a line whose
quotes do not balance (a broken quote, or a quoted value spanning lines) has those lines read
by a careful line-by-line parser, which re-reads the lines a broken quote would swallow.

The other ("plain") lines were always read by pandas' C parser (`_fast_pandas`), and that stays
the definition of their values. Most of them are plain RFC 4180 lines with the right number of
fields, which pyarrow's CSV reader turns into the same strings several times faster (and straight
into Arrow strings, which is what pandas' "str" dtype holds). `_fast` sends the plain RFC 4180 lines
to pyarrow, which hands back those of the wrong length, and every other plain line to
`_fast_pandas`; see `_arrow_lines` for why the two readings give the rows `_fast_pandas` would give
on the whole block.
"""

from __future__ import annotations

import codecs
import csv
import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from .encoding import BLOCK_BYTES
from .source import Source

MAX_SPAN_LINES = 50  # a quoted value longer than this is a broken quote, not a long note
_WS = frozenset(b" \t\r")


@dataclass
class Block:
    """Rows read from one block: accepted-for-parsing rows, and rows that could not be read."""

    rows: pd.DataFrame  # canonical column names + "_row"
    bad: pd.DataFrame  # _row, patient_id, reason
    last_row: int
    bytes_done: int = 0


def iter_blocks(
    src: Source, block_bytes: int | Callable[[int], int] = BLOCK_BYTES, only: tuple[str, ...] = ()
) -> Iterator[Block]:
    """Yield the file as blocks of whole lines, parsed, with each row's data-row number.

    `block_bytes` may be a function of the bytes read so far, so that a reader feeding parallel
    workers can take smaller blocks towards the end (the rows are the same for any block sizes).
    `only` (column names, with patient_id) limits which columns the C parser turns into values
    when a pass needs no more (e.g. the sortedness check): the rows, their numbers and the bad
    rows are the same; only the other columns may be missing from `rows`."""
    for _, lay, done in iter_layouts(src, block_bytes):
        block = read_rows(lay, src, only)
        block.bytes_done = done
        yield block


def iter_layouts(
    src: Source, block_bytes: int | Callable[[int], int] = BLOCK_BYTES
) -> Iterator[tuple[int, Layout, int]]:
    """The file as blocks of whole lines, laid out (`Layout`) but not read: per block, the file
    offset of its first byte, its layout, and the bytes done once it is read."""
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
            lay = _layout(body, src, row, final)
            if lay.left:  # an open quote at the end of the block continues in the next one
                carry = body[len(body) - lay.left :] + carry
            at = done
            done += cut - lay.left
            row = lay.last_row
            yield at, lay, min(done, src.size)
            if final:
                break


@dataclass(frozen=True)
class Span:
    """Whole rows of the file: its bytes start..end, which follow `row` data rows. Read by whoever
    audits them (`read`), so that the process cutting a file into spans only lays out its lines
    (`iter_layouts`); the rows are those `iter_blocks` gives, for any block sizes."""

    start: int
    end: int
    row: int

    def read(self, src: Source) -> Block:
        with open(src.path, "rb") as fh:
            fh.seek(self.start)
            body = fh.read(self.end - self.start)
        if not body.endswith(b"\n"):
            body += b"\n"
        # A span ends where a row starts, so no quoted value is open at its end: final, nothing left.
        return read_rows(_layout(body, src, self.row, True), src)


@dataclass
class _Scan:
    """Where the line ends, quotes, carriage returns and NUL bytes of one block are (found once)."""

    a: np.ndarray  # the block's bytes
    nl: np.ndarray  # position of each line's "\n"
    starts: np.ndarray  # position of each line's first byte
    quotes: np.ndarray
    qline: np.ndarray  # the line of each quote
    cr: np.ndarray
    nul: np.ndarray

    @classmethod
    def of(cls, body: bytes) -> _Scan:
        a = np.frombuffer(body, dtype=np.uint8)
        low = np.flatnonzero(a < 14)  # one pass finds "\n", "\r" and NUL
        kind = a[low]
        nl = low[kind == 10]
        quotes = np.flatnonzero(a == 34)
        return cls(
            a, nl, np.r_[0, nl[:-1] + 1], quotes, np.searchsorted(nl, quotes), low[kind == 13], low[kind == 0]
        )

    def line_bytes(self, lines: np.ndarray) -> np.ndarray:
        """The bytes of the chosen lines (newlines included): as positions when they are few, else as
        a mask over the block (positions would then outweigh it)."""
        length = self.nl + 1 - self.starts
        if int(length[lines].sum()) * 8 > len(self.a):
            return np.repeat(lines, length)
        return _ranges(self.starts[lines], length[lines])


def _ranges(first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The positions first[i] .. first[i] + length[i] - 1 for every i, in order."""
    return np.repeat(first - np.cumsum(length) + length, length) + np.arange(int(length.sum()))


@dataclass
class Layout:
    """A block's lines as rows, before any value is read: which lines the fast path reads
    (`plain`), which were followed line by line (`special`: quotes over lines, broken quotes), and
    each line's data-row number (0 for a line that is not a row's first)."""

    scan: _Scan
    plain: np.ndarray
    special: dict[int, tuple]
    numbers: np.ndarray
    last_row: int  # the number of the block's last row (the rows before it when it has none)
    left: int  # bytes at the end that wait for the next block: a quote still open there

    def tail(self, first: int) -> Layout:
        """The layout of lines first.. alone (only their bytes are scanned again)."""
        start = int(self.scan.starts[first]) if first < len(self.numbers) else len(self.scan.a)
        return Layout(
            _Scan.of(self.scan.a[start:].tobytes()),
            self.plain[first:],
            {i - first: v for i, v in self.special.items() if i >= first},
            self.numbers[first:],
            self.last_row,
            self.left,
        )


def _layout(body: bytes, src: Source, row: int, final: bool) -> Layout:
    """Plain lines are found with numpy in one go; only lines with unbalanced quotes are walked."""
    scan = _Scan.of(body)
    starts, nl = scan.starts, scan.nl
    qcount = np.bincount(scan.qline, minlength=len(nl))
    blank = _blank_lines(scan.a, starts, nl)
    odd = np.flatnonzero(qcount % 2)
    special: dict[int, tuple] = {}
    consumed = np.zeros(len(nl), dtype=bool)
    left = 0
    if len(odd):
        left = _walk(body, src, starts, nl, odd, special, consumed, final)
    n_lines = len(nl) if not left else int(np.searchsorted(starts, len(body) - left))
    plain = ~blank & ~consumed
    plain[n_lines:] = False
    for i in special:
        plain[i] = False
    counted = (plain | np.isin(np.arange(len(nl)), list(special)))[:n_lines]
    numbers = np.zeros(len(nl), dtype=np.int64)
    numbers[:n_lines][counted] = row + np.arange(1, int(counted.sum()) + 1)
    return Layout(scan, plain, special, numbers, row + int(counted.sum()), left)


def read_rows(lay: Layout, src: Source, only: tuple[str, ...] = ()) -> Block:
    """The block's rows read: plain lines in one go (`_fast`), then the special ones."""
    if lay.plain.any():
        block = _fast(lay.scan, lay.plain, lay.numbers, src, only)
    else:
        block = _block([], [], [], src, 0)
    block = _add_special(block, lay.special, lay.numbers, src)
    block.last_row = lay.last_row
    return block


def _walk(
    body: bytes,
    src: Source,
    starts: np.ndarray,
    nl: np.ndarray,
    odd: np.ndarray,
    special: dict[int, tuple],
    consumed: np.ndarray,
    final: bool,
) -> int:
    """Follow each line whose quotes do not balance: a quoted value over several lines, or a broken
    quote. Returns how many bytes at the end must wait for the next block."""
    ncols, pid = len(src.columns), src.columns.index("patient_id")

    def text(i: int, j: int) -> str:
        return body[starts[i] : nl[j]].decode(_data_encoding(src)).replace("\r\n", "\n").rstrip("\r")

    k, n = 0, len(nl)
    odd_at = odd.tolist()
    while k < len(odd_at):
        i = odd_at[k]
        if consumed[i]:
            k += 1
            continue
        # The quotes balance again at the next line holding an odd number of them, if it comes
        # within MAX_SPAN_LINES lines and the block.
        j = min(n - 1, i + MAX_SPAN_LINES)
        still_open = k + 1 == len(odd_at) or odd_at[k + 1] > j
        if not still_open:
            j = odd_at[k + 1]
        if still_open and j + 1 == n and not final and j - i < MAX_SPAN_LINES:
            return len(body) - int(starts[i])
        strict = fields = None
        if not still_open:
            strict = _split_strict(text(i, j)) if j > i else None
            fields = strict if strict is not None else _split(text(i, j))
        if fields is None or (j > i and (strict is None or len(fields) != ncols)):
            first = _split(text(i, i))
            special[i] = (
                "bad",
                first[pid] if len(first) > pid else "",
                "broken quote (a quoted field never closes)",
            )
            k += 1
            continue
        who = fields[pid] if len(fields) > pid else ""
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


def _fast(
    scan: _Scan, plain: np.ndarray, numbers: np.ndarray, src: Source, only: tuple[str, ...] = ()
) -> Block:
    """The plain lines: what pyarrow reads as pandas does goes to pyarrow, the rest to pandas.

    All plain lines go to pandas together, as they always did, when some plain line could read
    differently in pandas depending on its neighbours (see `_arrow_lines`) and when pyarrow
    disagrees with the scan about the rows. With `only` too, the lines pyarrow hands back go to
    pandas alone: `_fast_pandas` reads every column and reads a line the same alone or not."""
    candidates, mixed = _arrow_lines(scan, plain)

    def by_pandas(lines: np.ndarray) -> Block:
        return _fast_pandas(scan.a[scan.line_bytes(lines)].tobytes(), src, numbers[lines], only)

    if mixed or not candidates.any():
        return by_pandas(plain)
    read = _arrow_rows(scan, candidates, numbers, src, only)
    if read is None:
        return by_pandas(plain)
    rows, arrow = read
    rest = plain & ~arrow
    if not rest.any():
        return Block(rows, _bad_rows(numbers[:0], np.empty(0, dtype=object), np.empty(0, np.int64), 0), 0)
    other = by_pandas(rest)
    if not len(other.rows):
        return Block(rows, other.bad, 0)
    both = pd.concat([rows, other.rows], ignore_index=True).sort_values("_row", kind="stable")
    return Block(both.reset_index(drop=True), other.bad, 0)


def _fast_reference(
    scan: _Scan, lines: np.ndarray, numbers: np.ndarray, src: Source, only: tuple[str, ...] = ()
) -> Block:
    """The chosen lines read by pandas' C parser in one go: the reading that defines plain lines."""
    return _fast_pandas(scan.a[scan.line_bytes(lines)].tobytes(), src, numbers[lines], only)


def _arrow_lines(scan: _Scan, plain: np.ndarray) -> tuple[np.ndarray, bool]:
    """The plain lines pyarrow may read, and whether some plain line forbids splitting the block.

    pyarrow, pandas' C parser and the csv module (pandas' fallback, `_by_line`) read a line the
    same way when it is plain RFC 4180: every quote opens a field, doubles a quote inside it or
    closes it right before a comma or the line end; no "\r" but a final one, no NUL; no leading
    space, tab or byte 0xEF (pandas drops white space that straddles its read buffers, and a
    byte-order mark at the start of its input). Those lines go to pyarrow, which also counts
    their fields (`_arrow_rows`: a line of the wrong length goes back to pandas). Splitting the
    block is exact when each other plain line reads in pandas the same alone as among its
    neighbours: pandas' state is reset at every line end unless a quote that opens a field is
    still open, and names (so the field count that raises) do not depend on the lines with the
    right count. So a line with a quote opening a field (after a comma or at the start) whose
    quotes are not RFC 4180, or with a leading space, tab, 0xEF, an inner "\r" or a NUL, keeps
    the whole block in pandas; lines whose quotes are all inside unquoted fields (pandas takes
    them as text) may go alone."""
    a, starts, nl = scan.a, scan.starts, scan.nl
    mixed = np.isin(a[starts], (32, 9, 0xEF))
    inner_cr = scan.cr[scan.cr + 1 != nl[np.searchsorted(nl, scan.cr)]]
    mixed[np.searchsorted(nl, inner_cr)] = True
    mixed[np.searchsorted(nl, scan.nul)] = True
    mine = plain[scan.qline]  # plain lines' quotes balance, so they pair up in order
    q, ql = scan.quotes[mine], scan.qline[mine]
    opens_field = (q == starts[ql]) | (a[q - 1] == 44)
    o, c = q[0::2], q[1::2]
    rfc = (opens_field[0::2] | (a[o - 1] == 34)) & np.isin(a[c + 1], (44, 10, 13, 34))
    odd = np.zeros(len(nl), dtype=bool)
    odd[ql[0::2][~rfc]] = True
    opened = np.zeros(len(nl), dtype=bool)
    opened[ql[opens_field]] = True
    mixed |= odd & opened
    return plain & ~odd & ~mixed, bool((mixed & plain).any())


def _arrow_rows(
    scan: _Scan, lines: np.ndarray, numbers: np.ndarray, src: Source, only: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The chosen lines read by pyarrow (the others blanked to bare newlines, which it skips), and
    which lines those rows are: the chosen ones but those of the wrong number of fields, which
    pyarrow counts and reports by their rank among the lines it reads (these are pandas' to read).
    None when that cannot be told or its rows are not one per line."""
    buf = scan.a
    if not lines.all():
        buf = buf.copy()
        buf[scan.line_bytes(~lines)] = 10
    names = [c for c in src.columns if c in only] if only else src.columns
    encoding = "utf8" if codecs.lookup(src.encoding).name in ("utf-8", "utf-8-sig") else src.encoding
    wrong: list[int | None] = []

    def wrong_length(row: pa_csv.InvalidRow) -> str:
        wrong.append(row.number)
        return "skip"

    try:
        table = pa_csv.read_csv(
            pa.py_buffer(buf),
            read_options=pa_csv.ReadOptions(
                use_threads=False,  # the audit reads in forked workers
                column_names=src.columns,
                block_size=min(max(len(buf) + 1, 1 << 20), 1 << 30),
                encoding=encoding,
            ),
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=False, ignore_empty_lines=True, invalid_row_handler=wrong_length
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(src.columns, pa.large_string()),
                include_columns=names,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    took = lines.copy()
    if wrong:
        if None in wrong:
            return None
        took[np.flatnonzero(lines)[np.array(wrong, dtype=np.int64) - 1]] = False
    if table.num_rows != int(took.sum()):
        return None
    df = table.to_pandas()
    df.insert(0, "_row", numbers[took])
    return df, took


def _fast_pandas(body: bytes, src: Source, numbers: np.ndarray, only: tuple[str, ...] = ()) -> Block:
    """Lines whose quotes balance: fields counted outside quotes with numpy, values by the C parser.

    A quote inside an unquoted value is text to pandas (`x"y,z"w` is two fields), not quoting as
    the count outside quotes takes it: where pandas finds another number of fields on a line, the
    line is read on its own (`_by_line`), as it would be in a block where pandas fails, so that
    how it reads never depends on the lines around it (the block sizes, the workers' spans)."""
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
                dtype=str,
                keep_default_na=False,
                na_values=[],
                index_col=False,
                encoding=_data_encoding(src),
                skip_blank_lines=True,
                engine="c",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        df = None
    if df is None or len(df) != len(rows):  # stray quotes inside fields: read these lines one by one
        return _only(_by_line(body, src, rows), src, only)
    # pandas pads a short row with NaN (an empty field is ""): its fields are the cells that are not
    seen = df.notna().to_numpy().sum(axis=1)
    alone = seen != fields
    df = df.drop(columns=extra)
    if only:
        df = df[[c for c in src.columns if c in only]]
    ok = (fields == ncols) & ~alone
    bad = _bad_rows(
        rows[~ok & ~alone], df["patient_id"].to_numpy()[~ok & ~alone], fields[~ok & ~alone], ncols
    )
    df = df[ok]
    df.insert(0, "_row", rows[ok])
    block = Block(df.reset_index(drop=True), bad, 0)
    if not alone.any():
        return block
    lines = np.flatnonzero(~blank)[alone]
    own = _by_line(
        b"".join(body[i:j] for i, j in zip(starts[lines], nl[lines] + 1, strict=True)), src, rows[alone]
    )
    return Block(_joined(block.rows, _only(own, src, only).rows), _joined(block.bad, own.bad), 0)


def _only(block: Block, src: Source, only: tuple[str, ...]) -> Block:
    """The block with only the columns `only` names (all without it), as every reading gives them."""
    if only:
        block.rows = block.rows[["_row", *(c for c in src.columns if c in only)]]
    return block


def _joined(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Two frames' rows in row order (an empty one left out: its columns' dtypes would win)."""
    if not len(a) or not len(b):
        return b if len(b) else a
    return pd.concat([a, b], ignore_index=True).sort_values("_row", kind="stable").reset_index(drop=True)


def _bad_rows(rows: np.ndarray, patients: np.ndarray, fields: np.ndarray, ncols: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_row": rows,
            "patient_id": patients,
            "reason": [f"expected {ncols} fields, found {n}" for n in fields],
        }
    )


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


def _data_encoding(src: Source) -> str:
    """How data blocks are decoded: a byte-order mark is the file's first bytes only (before the
    header), so in the data a U+FEFF is text, wherever a block happens to start."""
    return "utf-8" if codecs.lookup(src.encoding).name == "utf-8-sig" else src.encoding


def _by_line(body: bytes, src: Source, rows: np.ndarray) -> Block:
    lines = [x for x in body.decode(_data_encoding(src)).split("\n")[:-1] if x.strip(" \t\r")]
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
