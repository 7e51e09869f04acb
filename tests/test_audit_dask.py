"""`--engine dask` runs the same per-partition audit on a (local, in-process) cluster: same output."""

from __future__ import annotations

import pytest

from tests.test_audit_cli import _big, run

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_gives_identical_output(capsys, tmp_path, scheduler):
    path = _big(tmp_path, shuffle=True)
    pandas = run(capsys, path)
    dask = run(capsys, path, "--engine", "dask", "--scheduler", scheduler)
    assert dask[0] == pandas[0] == 0
    assert dask[1] == pandas[1]
    chunked = run(capsys, path, "--chunksize", "40")
    dask_chunked = run(capsys, path, "--chunksize", "40", "--engine", "dask", "--scheduler", scheduler)
    assert dask_chunked[1] == chunked[1]
    assert dask[2].splitlines()[-1] == pandas[2].splitlines()[-1] == dask_chunked[2].splitlines()[-1]
