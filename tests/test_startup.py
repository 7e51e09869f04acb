"""What a process pays to start: every CLI call, gunicorn worker and audit imports the engine."""

import subprocess
import sys

import pytest


def test_the_engine_starts_without_unused_array_libraries():
    """pint imports dask and scipy when installed (~0.15 s) for arrays medcheck never makes; the
    engine hides them from pint, and they still import normally afterwards (the Dask engine)."""
    pytest.importorskip("dask")
    code = (
        "import sys, checker\n"
        "print([m for m in ('dask', 'scipy') if m in sys.modules])\n"
        "import dask.base, pint.compat\n"
        "print(dask.base.__name__, pint.compat.HAS_DASK)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "dask.base False"]
