"""The input file of an audit: which file (a path, or stdin spooled to a temporary file so that it
can be read more than once), its encoding (`encoding.detect_encoding`), its header and columns.
Opening it reads only the header; the rows are `reading`'s."""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

from .encoding import UnreadableInput, detect_encoding

REQUIRED = ("patient_id", "drug")


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


def spool_stdin() -> str:
    fd, path = tempfile.mkstemp(prefix="medcheck-stdin-", suffix=".csv")
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
