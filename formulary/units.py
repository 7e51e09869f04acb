"""The one pint registry for the whole program, and the input spellings it must not guess.

pint reads "mg" fine, but "Mg" is a megagram and "MG" nothing at all; "cc" and "mcg" are
clinical spellings it does not know. Input strings pass through `normalize_unit_text` before
pint sees them, and results are cached per distinct string, so a batch of a million rows
parses each spelling once.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import lru_cache, wraps
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import platformdirs


def _import_pint():
    """pint, imported without its optional array back-ends.

    When dask or scipy is installed (dask is our `[dask]` extra), `pint.compat` imports
    `dask.base` and `scipy` at import time, so that quantities can wrap their arrays: about
    0.15 s (yaml, jinja2, psutil, ...) on every start of the CLI, a gunicorn worker or an audit,
    for arrays medcheck never makes. A module set to None in `sys.modules` is one Python
    reports as absent (`find_spec` gives None, `import` raises ImportError), so pint takes
    them as not installed; they are put back as they were right after, and import normally
    for whoever wants them (the Dask engine)."""
    hidden = [name for name in ("dask", "scipy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import pint
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return pint


pint = _import_pint()

UNITS_FILE = resources.files("formulary") / "data" / "units.txt"


def _definitions_folder() -> Path | None:
    """Where pint keeps its parsed definitions for this pint and these definition files, or None.

    Parsing the definition files is most of building the registry (~0.19 s of every start of
    the CLI, a gunicorn worker or an audit); pint's disk cache of the parsed files cuts it to
    ~0.05 s. pint writes that cache in place, so a process starting beside one that is writing
    could read half a file; here the folder is filled privately and renamed into place whole,
    and its name holds a hash of pint's version and every definition file, so a folder that
    exists is complete and is only ever read. None (no cache) where the user's cache directory
    cannot be written."""
    digest = hashlib.sha256(pint.__version__.encode())
    pint_files = resources.files("pint")
    for text in (pint_files / "default_en.txt", pint_files / "constants_en.txt", UNITS_FILE):
        digest.update(text.read_bytes())
    folder = platformdirs.user_cache_path("medcheck") / f"pint-{digest.hexdigest()[:20]}"
    if folder.is_dir():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".pint-", dir=folder.parent))
    except OSError:
        return None
    try:
        _build(staging)  # fills the cache; a broken definitions file raises here, as without one
        staging.rename(folder)
    except OSError:  # cannot write, or another process put its own there first (the same content)
        pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing left if it was renamed
    return folder if folder.is_dir() else None


def _build(cache: Path | None) -> pint.UnitRegistry:
    reg = pint.UnitRegistry(on_redefinition="raise", autoconvert_offset_to_baseunit=True, cache_folder=cache)
    reg.load_definitions(str(UNITS_FILE))
    return reg


def _registry() -> pint.UnitRegistry:
    """The registry, from pint's parsed definitions on disk when they are there (see
    `_definitions_folder`). A cache that cannot be read is never fatal: the definitions are
    parsed afresh, and the damaged folder is removed for the next start to make anew."""
    folder = None
    try:
        folder = _definitions_folder()
        if folder is not None:
            return _build(folder)
    except Exception:  # noqa: BLE001 - whatever is wrong with a cache, the program starts without it
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return _build(None)


ureg = _registry()
Q_ = ureg.Quantity

# Whole-token aliases, matched case-insensitively: clinical spellings → pint spellings.
_TOKEN_ALIASES = {
    "mg": "mg",
    "g": "g",
    "gm": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "mcg": "ug",
    "ug": "ug",
    "µg": "ug",
    "μg": "ug",
    "microgram": "ug",
    "micrograms": "ug",
    "milligram": "mg",
    "milligrams": "mg",
    "ng": "ng",
    "ml": "mL",
    "ul": "uL",
    "mcl": "uL",
    "mm": "mm",
    "cm": "cm",
    "m": "m",
    "l": "L",
    "dl": "dL",
    "cc": "mL",
    "iu": "IU",
    "unit": "IU",
    "units": "IU",
    "u": "IU",
    "meq": "mEq",
    "mmol": "mmol",
    "umol": "umol",
    "µmol": "umol",
    "μmol": "umol",
    "bq": "Bq",
    "kbq": "kBq",
    "mbq": "MBq",
    "gbq": "GBq",
    "ci": "Ci",
    "mci": "mCi",
    "uci": "uCi",
    "µci": "uCi",
    "μci": "uCi",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "day": "day",
    "days": "day",
    "min": "minute",
    "wk": "week",
    "week": "week",
    "cell": "cell",
    "cells": "cell",
    "tab": "tablet",
    "tabs": "tablet",
    "tablet": "tablet",
    "tablets": "tablet",
    "cap": "capsule",
    "caps": "capsule",
    "capsule": "capsule",
    "capsules": "capsule",
    "patch": "patch",
    "patches": "patch",
    "spray": "spray",
    "sprays": "spray",
    "puff": "puff",
    "puffs": "puff",
    "drop": "drop",
    "drops": "drop",
}
_TOKEN = re.compile(r"[A-Za-zµμ]+")


class UnitError(ValueError):
    """A unit string that is not a unit we can trust."""


def normalize_unit_text(text: str) -> str:
    """Rewrite clinical spellings token by token; unknown tokens are left for pint to reject."""
    s = text.strip().replace("·", "*").replace("×", "*")
    s = re.sub(r"10\^(\d+)", lambda m: str(10 ** int(m.group(1))), s)
    s = re.sub(r"\bper\b", "/", s, flags=re.IGNORECASE)
    if s.startswith("/"):
        s = "1" + s  # "/uL" means "per microlitre"

    def swap(m: re.Match[str]) -> str:
        tok = m.group(0)
        low = tok.lower()
        if low in _TOKEN_ALIASES:
            return _TOKEN_ALIASES[low]
        if low.startswith(("µ", "μ")) and low[1:] in _TOKEN_ALIASES:
            return "u" + _TOKEN_ALIASES[low[1:]]
        raise UnitError(f"unknown unit {tok!r}")

    s = _TOKEN.sub(swap, s)
    return re.sub(r"(?<=[A-Za-z])([23])\b", r"**\1", s)  # "mm3" → "mm**3"


T = TypeVar("T")


def _memo(fn: Callable[..., T]) -> Callable[..., T]:
    """`lru_cache` that remembers a UnitError as well as a result: a wrong unit repeats as often as
    a right one (a batch of rows in "tabs"), and pint's failure path is its slowest."""

    @lru_cache(maxsize=4096)
    def attempt(*args: str) -> tuple[bool, Any]:
        try:
            return True, fn(*args)
        except UnitError as exc:
            return False, exc.args

    @wraps(fn)
    def call(*args: str) -> T:
        ok, value = attempt(*args)
        if ok:
            return value
        raise UnitError(*value)

    return call


@_memo
def parse_unit(text: str) -> pint.Quantity:
    """Parse a unit string into a unit quantity (magnitude carries scales like 10^9/L).

    Cached per distinct spelling; raises UnitError on anything dubious.
    """
    if not text or not text.strip():
        raise UnitError("empty unit")
    try:
        q = ureg.parse_expression(normalize_unit_text(text))
    except UnitError:
        raise
    except Exception as exc:  # pint raises several unrelated types for bad text
        raise UnitError(f"unknown unit {text!r}") from exc
    if not isinstance(q, pint.Quantity) or q.unitless:
        raise UnitError(f"{text!r} is a number, not a unit")
    return q


@_memo
def conversion_factor(src: str, dst: str) -> float:
    """Factor that turns a value in `src` into `dst`; raises UnitError when dimensions differ."""
    try:
        return float((parse_unit(src) / parse_unit(dst)).to("dimensionless").magnitude)
    except pint.DimensionalityError as exc:
        raise UnitError(f"{src!r} cannot be converted to {dst!r}") from exc


@_memo
def dimensionality(text: str) -> str:
    """A stable string naming the unit's dimension, e.g. '[mass]' or '[mass] / [time]'."""
    return str(parse_unit(text).dimensionality)
