"""What a process pays to start: every CLI call, gunicorn worker and audit imports the engine."""

import os
import subprocess
import sys

import pytest


def test_the_engine_starts_without_unused_array_libraries():
    """pint imports dask and scipy when installed (~0.15 s) for arrays medcheck never makes; the
    engine hides them from pint, and they still import normally afterwards (the Dask engine)."""
    pytest.importorskip("dask")
    code = (
        "import sys\n"
        "from checker import check\n"
        "print([m for m in ('dask', 'scipy') if m in sys.modules])\n"
        "import dask.base, pint.compat\n"
        "print(dask.base.__name__, pint.compat.HAS_DASK)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "dask.base False"]


PROBE = (
    "from formulary.units import ureg\n"
    "for q in ('5 mg', '2 g/day', '30 mL', '1 mCi', '70 kg', '3 IU', '1 tablet', '10 mmol'):\n"
    "    x = ureg.Quantity(q)\n"
    "    print(q, x.to_base_units(), x.dimensionality)\n"
)


def _probe(cache_home, tmp_path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    assert done.stderr == ""
    return done.stdout


def test_unit_definitions_come_from_a_complete_cache_or_are_parsed_afresh(tmp_path):
    """pint's parsed definitions are kept on disk (0.19 s -> 0.05 s a start): the cache is made
    whole or not at all, gives the same units as parsing, and a damaged one is passed by."""
    home = tmp_path / "cache"
    first = _probe(home, tmp_path)
    (folder,) = (home / "medcheck").iterdir()
    assert folder.name.startswith("pint-") and any(folder.glob("*.pickle"))
    assert not [p for p in (home / "medcheck").iterdir() if p.name.startswith(".")]  # no staging left
    assert _probe(home, tmp_path) == first  # read from the cache
    for pickled in folder.glob("*.pickle"):
        pickled.write_bytes(pickled.read_bytes()[:50])  # cut short, as by a full disk
    assert _probe(home, tmp_path) == first
    assert not folder.exists()  # removed: the next start makes it anew
    assert _probe(home, tmp_path) == first and any(folder.glob("*.pickle"))
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    if os.access(read_only, os.W_OK):  # root writes anywhere: nothing more to show
        return
    assert _probe(read_only, tmp_path) == first


def test_a_broken_units_file_still_stops_the_start(tmp_path, monkeypatch):
    """The cache must not hide a broken definitions file: it fails as without a cache, and leaves
    no half-made folder behind."""
    from formulary import units

    broken = tmp_path / "units.txt"
    broken.write_text(units.UNITS_FILE.read_text() + "\nthis is = not a unit [[\n")
    monkeypatch.setattr(units, "UNITS_FILE", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(Exception, match="not a valid unit name"):
        units._registry()
    assert not list((tmp_path / "cache" / "medcheck").iterdir())
