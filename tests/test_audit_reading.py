"""The audit reads every CSV into the same rows whichever parser reads its plain lines.

`iter_blocks` sends plain RFC 4180 lines with the right field count to pyarrow and the rest to
pandas' C parser (`_fast_pandas`), which is the reading that defines them: with `_fast` replaced by
`_fast_reference` every plain line of a block goes to pandas in one go, as it always did. Random
CSV text (quoted commas, doubled and stray quotes, newlines inside quotes, CR and CRLF, blank and
white-space lines, short and long rows, unicode, NUL, byte-order marks, Latin-1 files) must give
identical blocks both ways: the same values, dtypes, columns, row numbers, bad rows and reasons,
for blocks of any size.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from checker.audit import encoding, reading, source

SETTINGS = settings(
    max_examples=int(os.environ.get("READING_EXAMPLES", "100")),  # more to hunt harder
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
BLOCK_SIZES = (reading.BLOCK_BYTES, 23, lambda done: 40 + done % 61)  # one, tiny, growing blocks
HEADERS = ("patient_id,drug,dose", "drug,dose,note,patient_id", "patient_id,drug", "Drug, Patient_ID ,x,y,z")

TEXT = "ab Zé9ß中😀\t\x0b\x0c\x1a\x1c\x7f\x85\u2028\ufeff"
LATIN = "ab Z9é\t\xa0\xff"  # Latin-1 without 0x80-0x9F, so the file is read as Latin-1


def cells(chars: str) -> dict[str, st.SearchStrategy[str]]:
    plain = st.text(st.sampled_from(chars), max_size=6)
    pieces = st.sampled_from([*chars, ",", '"', "\n", "\r\n", '""'])
    quoted = st.lists(pieces, max_size=6).map(lambda s: '"' + "".join(s).replace('"', '""') + '"')
    return {
        "clean": st.one_of(plain, plain, quoted, st.just("")),
        "literal": st.builds(  # quotes inside unquoted text, around a comma or not
            lambda a, b, c: a + '"' + b + c,
            st.text(st.sampled_from(chars), min_size=1),
            plain,
            st.sampled_from(["", ',x"', '"']),
        ),
        "odd": st.text(st.sampled_from(chars + ',"\r\x00'), max_size=6),  # stray quotes, CR, NUL
        "junk": st.builds(lambda a, b: a + b, quoted, st.sampled_from(["x", " ", '"'])),
    }


def lines(chars: str, ncols: int, kinds: set[str]) -> st.SearchStrategy[str]:
    """Lines of the chosen kinds: records of the right length with RFC 4180 cells, records of the
    wrong length, records with quotes inside unquoted text, records pandas reads unlike pyarrow,
    blank lines."""
    cell = cells(chars)

    def record(n: st.SearchStrategy[int], *kinds: str) -> st.SearchStrategy[str]:
        one = st.one_of(*(cell[k] for k in kinds))
        first = one.filter(lambda c: not c.startswith((" ", "\t", "\ufeff")))  # see "risky" for those
        rest = n.flatmap(lambda k: st.lists(one, min_size=k - 1, max_size=k - 1))
        return st.builds(lambda a, b: ",".join([a, *b]), first, rest)

    wrong = st.integers(1, ncols + 2).filter(lambda n: n != ncols)
    pads = [" ", "\t", "\ufeff" if "\ufeff" in chars else "\xef"]  # a byte-order mark / its first byte
    made = {
        "clean": record(st.just(ncols), "clean"),
        "count": record(wrong, "clean"),
        "literal": record(st.integers(1, ncols + 1), "clean", "literal"),
        "risky": st.one_of(
            record(st.integers(1, ncols + 1), "clean", "odd", "junk"),
            st.builds(lambda r, p: p + r, record(st.just(ncols), "clean"), st.sampled_from(pads)),
        ),
        "blank": st.sampled_from(["", " ", "\t", " \r", "\r", "  \t "]),
    }
    end = st.sampled_from(["\n", "\n", "\n", "\r\n"] + (["\r"] if "risky" in kinds else []))
    body = st.one_of(made["clean"], made["clean"], *(made[k] for k in sorted(kinds)))
    return st.builds(lambda r, e: r + e, body, end)


@st.composite
def csv_files(draw: st.DrawFn, risky: bool = True) -> bytes:
    header = draw(st.sampled_from(HEADERS))
    latin = draw(st.booleans()) and draw(st.booleans())
    chars = LATIN if latin else TEXT
    often, seldom = st.sampled_from([True, True, False]), st.sampled_from([True, False, False])
    chosen = {"count": often, "literal": often, "blank": often, **({"risky": seldom} if risky else {})}
    kinds = {kind for kind, chance in chosen.items() if draw(chance)}
    rows = draw(st.lists(lines(chars, header.count(",") + 1, kinds), min_size=4, max_size=30))
    text = header + draw(st.sampled_from(["\n", "\r\n"])) + "".join(rows)
    if rows and draw(st.booleans()):
        text = text.rstrip("\n")  # no newline after the last line
    if latin:
        return text.encode("latin-1")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")


@contextmanager
def written(data: bytes) -> Iterator[source.Source | None]:
    """The data as a CSV file, opened (None when the audit could not read it at all)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "meds.csv")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            src = source.open_source(path)
        except source.UnreadableInput:
            yield None
            return
        try:
            yield src
        finally:
            src.close()


def blocks(src: source.Source, size, only: tuple[str, ...], reference: bool) -> list[reading.Block] | str:
    """The blocks, or the error that stopped the reading (should one ever stop it, the same error
    must stop both readings)."""
    try:
        if not reference:
            return list(reading.iter_blocks(src, size, only))
        with mock.patch.object(reading, "_fast", reading._fast_reference):
            return list(reading.iter_blocks(src, size, only))
    except ValueError as exc:
        return repr(exc)


def assert_same_blocks(data: bytes, sizes: tuple = BLOCK_SIZES) -> None:
    with written(data) as src:
        if src is None:
            return
        for size in sizes:
            for only in ((), ("patient_id",)):
                same_blocks(blocks(src, size, only, False), blocks(src, size, only, True))


def same_blocks(got: list[reading.Block] | str, want: list[reading.Block] | str) -> None:
    """The same rows, bad rows, row numbers and progress, block by block (or the same error)."""
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(g.rows, w.rows, check_exact=True)
        pd.testing.assert_frame_equal(g.bad, w.bad, check_exact=True)
        assert (g.last_row, g.bytes_done) == (w.last_row, w.bytes_done)


@SETTINGS
@given(data=csv_files())
@example(data=b'patient_id,drug\nP1,"a, b"\nP2,x"y\n"P3",z\n\nP4,"q""r"\r\n')
@example(data=b'drug,patient_id\n x,P1\nP2\na,"b"c\n"a"b,P3\nd,P4\n\xef\xbb\xbfe,P5\n')
@example(data=b'patient_id,drug\nP1,"multi\nline"\nP2,"broken\nP3,ok\nP4,a\x00b\nP5,c\rP6,d\n')
@example(data='patient_id,drug\nP1,café\nP2,"é,è"\n'.encode("latin-1"))
@example(data=b'\xef\xbb\xbfpatient_id,drug\n,\n\n,\n ,"\n\xef\xbb\xbf\n"\r,\n')
@example(data=b'patient_id,drug,dose,note\nP1,a,b,c\nP2,x"y,z"w\n')
def test_blocks_equal_the_pandas_reading(data: bytes) -> None:
    assert_same_blocks(data)


@pytest.mark.parametrize("only", [(), ("patient_id",)])
@pytest.mark.parametrize("n", [10, 3000])
def test_clean_lines_go_to_pyarrow(n: int, only: tuple[str, ...]) -> None:
    """A file of well-formed rows (with a few bad ones) reads its good rows through pyarrow, and
    still equals the pandas reading; so does a pass that wants only the patients (the order
    check: it once read every line of such a block on its own, 7 s a million rows)."""
    rows = [f'P{i % 97},"drug, {i}",{i} mg,"say ""hi""",' for i in range(n)]
    rows[n // 2] = "P1,too,few"
    rows[n // 3] = 'P2,"broken,x,y,z'
    data = ("patient_id,drug,dose,sig,note\r\n" + "\r\n".join(rows) + "\r\n").encode()
    with written(data) as src, mock.patch.object(reading, "_fast_pandas", wraps=reading._fast_pandas) as slow:
        got = list(reading.iter_blocks(src, only=only))
        assert sum(len(b.rows) for b in got) == n - 2
        assert sum(len(b.bad) for b in got) == 2
        read_slowly = sum(call.args[0].count(b"\n") for call in slow.call_args_list)
        assert read_slowly == 1  # only the short row
    assert_same_blocks(data, (reading.BLOCK_BYTES, 4096))


@pytest.mark.parametrize("at_block_start", [True, False])
def test_a_byte_order_mark_inside_the_data_is_text(at_block_start):
    """Only the file's first bytes are a byte-order mark: a U+FEFF later is text, read the same
    wherever a block starts (it used to be dropped at a block's start, and the rows then no longer
    matched their numbers: a traceback)."""
    line = b"P1,ibuprofen,400,mg,oral,tid\n"
    n = 2000
    header = "\ufeffpatient_id,drug,dose,unit,route,frequency\n".encode()
    data = header + line * n + "\ufeff\n".encode() + line * 5
    with written(data) as src:
        size = len(line) * n if at_block_start else len(line) * n + 7
        rows = sum(len(b.rows) for b in reading.iter_blocks(src, size))
        bad = pd.concat([b.bad for b in reading.iter_blocks(src, size)], ignore_index=True)
    assert rows == n + 5
    assert bad["_row"].tolist() == [n + 1]
    assert bad["reason"].tolist() == ["expected 6 fields, found 1"]


def _walk_line_by_line(body, src, starts, nl, odd, special, consumed, final):
    """The walk as first written: from each line with an odd number of quotes, add the next
    line's quotes until they balance (or MAX_SPAN_LINES lines, or the block, run out)."""
    ncols, pid = len(src.columns), src.columns.index("patient_id")
    qcount = [body[starts[i] : nl[i]].count(b'"') for i in range(len(nl))]

    def text(i, j):
        return body[starts[i] : nl[j]].decode(reading._data_encoding(src)).replace("\r\n", "\n").rstrip("\r")

    k, n = 0, len(nl)
    while k < len(odd):
        i = int(odd[k])
        if consumed[i]:
            k += 1
            continue
        j, count = i, qcount[i]
        while count % 2 and j + 1 < n and j - i < reading.MAX_SPAN_LINES:
            j += 1
            count += qcount[j]
        if count % 2 and j + 1 == n and not final and j - i < reading.MAX_SPAN_LINES:
            return len(body) - int(starts[i])
        strict = reading._split_strict(text(i, j)) if j > i else None
        fields = strict if strict is not None else reading._split(text(i, j))
        who = fields[pid] if len(fields) > pid else ""
        if count % 2 or (j > i and (strict is None or len(fields) != ncols)):
            first = reading._split(text(i, i))
            why = "broken quote (a quoted field never closes)"
            special[i] = ("bad", first[pid] if len(first) > pid else "", why)
            k += 1
            continue
        wrong = ("bad", who, f"expected {ncols} fields, found {len(fields)}")
        special[i] = ("good", fields) if len(fields) == ncols else wrong
        consumed[i + 1 : j + 1] = True
        k += 1
    return 0


@SETTINGS
@given(data=csv_files(), span=st.sampled_from([1, 2, 3, reading.MAX_SPAN_LINES]))
@example(data=b'patient_id,drug\nP1,"a\nb\nc\nd"\nP2,"x\nP3,y\nP4,"z"\n', span=2)
def test_quotes_over_lines_are_followed_as_line_by_line(data: bytes, span: int) -> None:
    """Lines whose quotes do not balance are followed to the line that balances them by jumping
    to the next such line; walking line by line, as first written, must read the same blocks
    (short spans: values longer than the span are broken quotes, at any block size)."""
    with written(data) as src, mock.patch.object(reading, "MAX_SPAN_LINES", span):
        if src is None:
            return
        for size in BLOCK_SIZES:
            got = blocks(src, size, (), False)
            with mock.patch.object(reading, "_walk", _walk_line_by_line):
                want = blocks(src, size, (), False)
            same_blocks(got, want)


@SETTINGS
@given(data=st.one_of(st.binary(max_size=64), st.text(TEXT + LATIN, max_size=32).map(str.encode)))
@example(data="é".encode()[:1])  # a character cut short
@example(data=b"\xed\xa0\x80")  # an encoded surrogate: not UTF-8
@example(data=b"\xf4\x90\x80\x80")  # beyond U+10FFFF
def test_the_utf8_check_agrees_with_the_codec(data: bytes) -> None:
    """The file's encoding is told by Arrow's validation, not by decoding it: the two must agree on
    every byte string, or a Latin-1 file would be read as UTF-8 (or the reverse)."""
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert encoding.utf8(memoryview(data)) is valid
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        with open(fh.name, "rb") as again:
            assert encoding.all_utf8(again) is valid


@SETTINGS
@given(data=csv_files(risky=False), size=st.sampled_from([23, 61, 4096]))
@example(data=b'patient_id,drug\nP1,"multi\nline"\nP1,x\nP2,"broken\nP2,ok\nP3,a\n', size=23)
@example(data='Drug, Patient_ID ,x,y,z\n\n\n,ßé  ,9",x",,\n,,,,,\n'.encode(), size=23)
def test_spans_are_the_rows_cut_between_patients(data: bytes, size: int) -> None:
    """With several workers a sorted file is cut into spans that the workers read themselves
    (`stream_spans`). Whatever the file, the spans hold exactly the rows the blocks hold (same
    values, numbers, bad rows), each ends where the patient changes, and checking the order span
    by span (and where they meet) agrees with checking the whole file.

    Not for "risky" lines (a CR inside, a NUL, a leading space or byte-order mark): pandas reads
    those with their whole block, and they can read otherwise in another block, as they can with
    other block sizes."""
    from checker.audit import sorted_input

    with written(data) as src:
        if src is None:
            return
        want = list(reading.iter_blocks(src, size))
        spans = [job.load() for job, _ in sorted_input.stream_spans(src, size, 2)]
        if not spans:
            assert not sum(len(b.rows) + len(b.bad) for b in want)
            return
        for got, attr in ((0, "rows"), (1, "bad")):
            # The dtype of an empty frame's columns depends on who made it: the values must agree.
            pd.testing.assert_frame_equal(
                pd.concat([s[got] for s in spans], ignore_index=True),
                pd.concat([getattr(b, attr) for b in want], ignore_index=True),
                check_exact=True,
                check_dtype=False,
            )
        ends = [
            (pd.concat([r[["_row", "patient_id"]], b[["_row", "patient_id"]]]).sort_values("_row"))
            for r, b in spans
        ]
        for before, after in zip(ends, ends[1:], strict=False):
            assert (
                sorted_input.pid_keys(before["patient_id"])[-1]
                != sorted_input.pid_keys(after["patient_id"])[0]
            )
        try:
            for job, _ in sorted_input.stream_spans(src, size, 2, verify=True):
                job.load()
            ordered = True
        except sorted_input.Unsorted:
            ordered = False
        assert ordered == sorted_input.is_sorted(src, size)
