"""The findings' CSV lines, built with Arrow: as pandas' writer (csv module, QUOTE_MINIMAL, "\n")
would write them after `output.neutralise`, byte for byte, without a Python string per cell.

A line is the patient, the rows and the rest of its finding; the rest repeats for every hit of a
finding template, so a column that repeats is quoted once per distinct value, and adjacent such
columns are joined once per combination while the combinations stay few.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import radix_key

FORMULA_START = ("=", "+", "-", "@")  # a cell starting so runs as a formula in a spreadsheet


def utf8_bytes(lines: pa.Array) -> pa.Buffer:
    """CSV lines (one string each) as one run of UTF-8 bytes: a slice of the Arrow buffer, no copy
    (pickled as bytes when it crosses to the writing process)."""
    if lines.type != pa.large_string():
        lines = lines.cast(pa.large_string())
    bounds = np.frombuffer(lines.buffers()[1], dtype=np.int64)[[lines.offset, lines.offset + len(lines)]]
    return lines.buffers()[2].slice(int(bounds[0]), int(bounds[1] - bounds[0]))


CSV_BATCH_ROWS = 1 << 16  # findings per Arrow batch: bounds the transient copies of the text
CSV_THREADS = 2  # batches built at once
SAMPLE_ROWS = 1 << 12  # findings looked at to tell a column that repeats itself
REPEATS = 8  # ... as often as this per value, on average: written per value
COMBINED_REPEATS = 4  # adjacent such columns written per combination while it repeats this often


def _text_column(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A findings column as Arrow text, exactly as `neutralise` first makes it: missing cells empty,
    anything else `str`. A pandas str column is Arrow already: no copy is made (its chunks are
    joined per batch only, see `_one`: fresh memory for a whole column is slow to come by)."""
    if isinstance(s.dtype, pd.StringDtype):
        arr = pa.array(s, from_pandas=True).cast(pa.large_string())
        return pc.fill_null(arr, pa.scalar("", pa.large_string()))
    return pa.array(s.fillna("").astype(str), type=pa.large_string(), from_pandas=True)


def _one(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


@cache
def _quote_chars() -> tuple[str, ...]:
    """The characters that make the csv module (pandas' writer: QUOTE_MINIMAL, "\\n" line ends)
    quote a field, asked of it once rather than assumed: the set has changed between Python
    versions (e.g. a lone "\\r")."""
    found = []
    for c in ',"\n\r\t ;':
        buf = io.StringIO()
        pd.DataFrame({"a": [f"x{c}y"], "b": ["z"]}).to_csv(
            buf, index=False, header=False, lineterminator="\n"
        )
        if buf.getvalue().startswith('"'):
            found.append(c)
    return tuple(found)


@dataclass
class LinePart:
    """Cells of adjacent CSV columns, already written (`_csv_cells`) and `,`-joined: per finding
    `cells[index]`, or `cells` itself (one per finding) where `index` is None."""

    cells: pa.Array | pa.ChunkedArray
    index: np.ndarray | None


def line_parts(columns: list[pd.Series]) -> list[LinePart]:
    """Findings columns as parts of CSV lines, byte for byte what `DataFrame.to_csv` writes after
    `neutralise`, but in Arrow and per distinct value (several times faster on a million findings).

    A column that repeats itself (the template's columns, categorical from `assemble`: a million
    findings hold a few thousand messages) is written once per distinct value; adjacent such
    columns are then joined once per distinct combination (a finding template), so a line is
    at most patient, rows and that one suffix. The line end rides on the last cell."""
    parts = _runs([_part(s) for s in columns])
    last = parts[-1]
    last.cells = pc.binary_join_element_wise(last.cells, _EMPTY, _NEWLINE)
    return parts


def joined_lines(parts: list[LinePart], lo: int, hi: int) -> pa.Array:
    """The CSV lines of findings lo..hi-1 ("...\\n" each)."""
    cols = [
        _one(p.cells.slice(lo, hi - lo)) if p.index is None else p.cells.take(p.index[lo:hi]) for p in parts
    ]
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, _COMMA)


def _part(s: pd.Series) -> LinePart:
    """One column's cells: per distinct value when the values repeat (a categorical's own codes,
    else pandas' factorize), else per finding. A missing value is written as "" (`neutralise`)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, uniq = s.cat.codes.to_numpy(np.int64), pd.Series(s.cat.categories)
    else:
        sample = s.iloc[:SAMPLE_ROWS]  # values seldom repeated (rows, patients)? not worth hashing
        if len(s) < REPEATS * SAMPLE_ROWS or len(pd.unique(sample)) * REPEATS > len(sample):
            return LinePart(_csv_cells(_text_column(s)), None)
        codes, found = pd.factorize(s)
        codes, uniq = codes.astype(np.int64), pd.Series(found)
    if (codes < 0).any():  # missing: one more value, ""
        codes = np.where(codes < 0, len(uniq), codes)
        uniq = pd.concat([uniq.astype(object), pd.Series([""], dtype=object)], ignore_index=True)
    return LinePart(_csv_cells(_one(_text_column(uniq))), codes)


def _runs(parts: list[LinePart]) -> list[LinePart]:
    """Adjacent per-value parts made one, per distinct combination of their values, while the
    combinations found stay few (a column of many values would only copy the text once more)."""
    out: list[LinePart] = []
    for per_value, group in itertools.groupby(parts, key=lambda p: p.index is not None):
        run = list(group)
        out += _merged(run) if per_value else run
    return out


def _merged(run: list[LinePart]) -> list[LinePart]:
    """Per-value parts as few parts as keep their combinations few: all at once (the common case,
    one hashing of the combinations), else as many as fit from the left, part by part."""
    if len(run) > 1:
        codes = _numbered(radix_key(*[p.index for p in run]))
        if _few(codes):
            return [_joined(run, codes)]
    out: list[LinePart] = []
    group, codes = [run[0]], run[0].index
    for p in run[1:]:
        more = _numbered(radix_key(codes, p.index))
        if _few(more):
            group, codes = [*group, p], more
        else:
            out.append(_joined(group, codes))
            group, codes = [p], p.index
    out.append(_joined(group, codes))
    return out


def _numbered(key: np.ndarray) -> np.ndarray:
    """Per position, a number per distinct key, in order of first appearance."""
    return pd.factorize(key)[0].astype(np.int64)


def _few(codes: np.ndarray) -> bool:
    """Whether numbered values (`_numbered`) repeat enough to be written per value."""
    return (int(codes.max()) + 1) * COMBINED_REPEATS <= len(codes) if len(codes) else True


def _joined(run: list[LinePart], codes: np.ndarray) -> LinePart:
    """Parts made one: their cells `,`-joined once per distinct combination (`codes`, numbered in
    order of first appearance, so a combination's first finding is where the codes first rise)."""
    if len(run) == 1:
        return run[0]
    first = np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])
    return LinePart(pc.binary_join_element_wise(*[p.cells.take(p.index[first]) for p in run], _COMMA), codes)


_EMPTY, _NEWLINE, _COMMA = (pa.scalar(t, pa.large_string()) for t in ("", "\n", ","))


def _csv_cells(a: pa.Array) -> pa.Array:
    """As the csv module writes each cell after `neutralise`: a formula-like cell gets a leading
    apostrophe; then a cell holding a character the csv module quotes is put in quotes, its own
    quotes doubled. (With a single column the csv module writes an empty field as `""`; callers
    keep its own writer for that case.)"""
    text = {t: pa.scalar(t, pa.large_string()) for t in ("'", '"', "")}
    risky = pc.starts_with(a, FORMULA_START[0])
    for start in FORMULA_START[1:]:
        risky = pc.or_(risky, pc.starts_with(a, start))
    if pc.any(risky).as_py():
        a = pc.if_else(risky, pc.binary_join_element_wise(text["'"], a, text[""]), a)
    if not _holds(a, _quote_chars()):
        return a
    need = pc.match_substring_regex(a, "[" + "".join(_quote_chars()) + "]")
    if pc.any(need).as_py():
        quoted = pc.binary_join_element_wise(
            text['"'], pc.replace_substring(a, '"', '""'), text['"'], text[""]
        )
        a = pc.if_else(need, quoted, a)
    return a


def _holds(a: pa.Array | pa.ChunkedArray, chars: tuple[str, ...]) -> bool:
    """Whether any cell holds one of `chars` (ASCII, so never a byte of another character's
    UTF-8): one scan of the cells' bytes, far cheaper than matching cell by cell where, as for
    most columns, none does."""
    for chunk in a.chunks if isinstance(a, pa.ChunkedArray) else [a]:
        bufs = chunk.buffers()
        if not len(chunk) or bufs[2] is None:
            continue
        wide = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        ends = np.frombuffer(bufs[1], dtype=wide)[[chunk.offset, chunk.offset + len(chunk)]]
        text = bufs[2].slice(int(ends[0]), int(ends[1] - ends[0])).to_pybytes()
        if any(c.encode() in text for c in chars):
            return True
    return False
