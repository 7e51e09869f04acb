"""The validated knowledge kept on disk between runs, as Python keeps compiled modules.

Reading, validating and indexing the TOML and TSV files is most of a cold start (about 0.3 s
of every CLI run, gunicorn master or audit, against ~0.03 s to unpickle the result), and the
files change only with a release or an edit. So the finished objects are pickled under the
user's cache directory, in a file whose name is a hash of everything they are built from: every
file of the `formulary` and `rules` packages (data and code), and the Python and pint versions. A
data file that changes, even by a byte, names another snapshot, which does not exist yet: it is
built and validated afresh, so a broken file still fails at start-up. A snapshot that cannot be
read is rebuilt; a cache directory that cannot be written means no snapshot, never an error.
Site-local knowledge is never snapshotted. `MEDCHECK_SNAPSHOTS=0` turns snapshots off.

The folder is the user's own (like `__pycache__`): pickles are only ever read from there.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TypeVar

import platformdirs

T = TypeVar("T")
PACKAGES = ("formulary", "rules")
KEEP = 4  # snapshots per kind (several checkouts or versions may share one cache)


def _files(folder: Traversable) -> list[tuple[str, bytes]]:
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                out += [(f"{entry.name}/{n}", b) for n, b in _files(entry)]
        elif entry.name.endswith((".py", ".toml", ".tsv", ".txt")):
            out.append((entry.name, entry.read_bytes()))
    return out


@cache
def digest() -> str:
    """A hash of what the knowledge is built from: its data files and the code that reads them."""
    from formulary.units import pint  # quantities in the knowledge were converted by this pint

    h = hashlib.sha256(f"{sys.version}\0{pickle.HIGHEST_PROTOCOL}\0{pint.__version__}".encode())
    for package in PACKAGES:
        for name, raw in _files(resources.files(package)):
            h.update(f"{package}/{name}\0{len(raw)}\0".encode() + raw)
    return h.hexdigest()[:24]


def _folder() -> Path | None:
    if os.environ.get("MEDCHECK_SNAPSHOTS", "1").strip().lower() in ("0", "off", "no", "false"):
        return None
    return platformdirs.user_cache_path("medcheck") / "knowledge"


def snapshot(name: str, build: Callable[[], T]) -> T:
    """`build()`, or what it returned last time for the same files, read from disk."""
    folder = _folder()
    if folder is None:
        return build()
    path = folder / f"{name}-{digest()}.pickle"
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)  # type: ignore[no-any-return]
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - a damaged snapshot is rebuilt, never fatal
        path.unlink(missing_ok=True)
    value = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # whole or not at all: a reader never sees half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        kept = sorted(folder.glob(f"{name}-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:  # other versions' snapshots, the least recently made first
            old.unlink(missing_ok=True)
    except OSError:
        pass
    return value
