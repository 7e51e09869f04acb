"""The one pint registry for the whole program, and the input spellings it must not guess.

pint reads "mg" fine, but "Mg" is a megagram and "MG" nothing at all; "cc" and "mcg" are
clinical spellings it does not know; and its parser evaluates arithmetic ("g*0" is zero grams).
Unit text is read by `formulary.unit_text` (known words, prefixes, "/" forms; nothing else) and
the quantity is built from pint units, so pint's parser never sees client text. Results are
cached per distinct string, so a batch of a million rows reads each spelling once.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import lru_cache, wraps
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import platformdirs

from formulary.unit_text import MAX_UNIT_LENGTH, UnitError, read_unit_text

if TYPE_CHECKING:  # the module itself is imported by `_import_pint`, without its array back-ends
    from pint import Quantity, UnitRegistry

__all__ = [
    "MAX_UNIT_LENGTH",
    "Q_",
    "UnitError",
    "check_length",
    "conversion_factor",
    "dimensionality",
    "parse_unit",
    "ureg",
]


def _import_pint() -> ModuleType:
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


def _build(cache: Path | None) -> UnitRegistry:
    reg = pint.UnitRegistry(on_redefinition="raise", autoconvert_offset_to_baseunit=True, cache_folder=cache)
    reg.load_definitions(str(UNITS_FILE))
    return reg


def _registry() -> UnitRegistry:
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


def _quantity(text: str) -> Quantity:
    """The unit quantity of a text `read_unit_text` accepted, built from pint units, not parsed:
    pint's expression parser never sees client text."""
    scale, terms = read_unit_text(text)
    unit = ureg.dimensionless
    for name, power, sign in terms:
        unit = unit * ureg.Unit(name) ** (power * sign)
    return Q_(10**scale, unit)


def check_length(text: object) -> None:
    if not isinstance(text, str) or len(text) > MAX_UNIT_LENGTH:
        raise UnitError(f"a unit is text of at most {MAX_UNIT_LENGTH} characters")


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
        for text in args:  # before the cache: a long string is refused and never kept
            check_length(text)
        ok, value = attempt(*args)
        if ok:
            return value
        raise UnitError(*value)

    return call


@_memo
def parse_unit(text: str) -> Quantity:
    """Parse a unit string into a unit quantity (magnitude carries scales like 10^9/L).

    Cached per distinct spelling; raises UnitError on anything dubious.
    """
    try:
        q = _quantity(text)
    except UnitError:
        raise
    except Exception as exc:  # noqa: BLE001 - a name units.txt or ALIASES gives that pint lacks
        raise UnitError(f"unknown unit {text!r}") from exc
    return q  # at least one unit word: "mg/kg" is a ratio, not a bare number


@_memo
def conversion_factor(src: str, dst: str) -> float:
    """Factor that turns a value in `src` into `dst`; raises UnitError when dimensions differ."""
    try:
        factor = float((parse_unit(src) / parse_unit(dst)).to("dimensionless").magnitude)
    except pint.DimensionalityError as exc:
        raise UnitError(f"{src!r} cannot be converted to {dst!r}") from exc
    if not (math.isfinite(factor) and factor > 0):  # a dose is never turned into 0, less or inf
        raise UnitError(f"{src!r} cannot be converted to {dst!r}")
    return factor


@_memo
def dimensionality(text: str) -> str:
    """A stable string naming the unit's dimension, e.g. '[mass]' or '[mass] / [time]'."""
    return str(parse_unit(text).dimensionality)
