"""`--workers N` audits whole-patient partitions in forked processes: the output is byte-identical.

Each mode is run with one worker and with two on inputs small enough for a test but cut into
several partitions (small --chunksize, or a small in-memory part size), so the pool really forks,
results come back out of order, and the writer must put them back in input order.
"""

from __future__ import annotations

import gc
import io
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checker.audit import partition, sorted_input
from checker.audit import workers as audit_workers
from checker.audit.normalize import no_patients
from checker.audit.source import open_source
from tests.test_audit_cli import _big, run

GEN = Path(__file__).resolve().parent.parent / "benchmarks" / "gen_meds.py"

pytestmark = [
    pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


class CountingPool(partition.ProcessPoolExecutor):
    made = 0

    def __init__(self, *args, **kwargs):
        type(self).made += 1
        super().__init__(*args, **kwargs)


@pytest.fixture
def forking(monkeypatch):
    """Fork even for a test-sized input, cut it into parts of some 150 rows (in memory) or the
    --chunksize asked for (blocks), count pools."""
    monkeypatch.setattr(audit_workers, "MIN_FORK_BYTES", 0)
    monkeypatch.setattr(sorted_input, "MIN_BLOCK_BYTES", 256)
    monkeypatch.setattr(partition, "PART_ROWS", 150)
    CountingPool.made = 0
    monkeypatch.setattr(partition, "ProcessPoolExecutor", CountingPool)
    return CountingPool


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[str, str]:
    """A synthetic batch with malformed rows, units, sigs, brands and a patients file."""
    folder = tmp_path_factory.mktemp("workers")
    meds, pats = folder / "meds.csv", folder / "patients.csv"
    subprocess.run([sys.executable, str(GEN), "1500", str(meds), "--patients", str(pats)], check=True)
    return str(meds), str(pats)


def both(capsys, *argv: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    return run(capsys, *argv, "--workers", "1"), run(capsys, *argv, "--workers", "2")


def same(one: tuple[int, str, str], two: tuple[int, str, str]) -> None:
    assert one[0] == two[0]
    assert one[1] == two[1]
    assert one[2].splitlines()[-1] == two[2].splitlines()[-1]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("mode", [(), ("--chunksize", "120")])
def test_two_workers_write_the_same_bytes(capsys, tmp_path, forking, shuffle, mode):
    path = _big(tmp_path, shuffle)
    one, two = both(capsys, path, *mode)
    assert one[0] == 0 and one[1].count("\n") > 100
    same(one, two)
    assert forking.made == 1  # only the two-worker run forked


@pytest.mark.parametrize("mode", [(), ("--chunksize", "400")])
def test_generated_batch_with_patients(capsys, forking, generated, mode):
    meds, pats = generated
    one, two = both(capsys, meds, "--patients", pats, "--keep-columns", *mode)
    assert one[1].count("\n") > 500
    same(one, two)
    assert forking.made == 1


@pytest.mark.parametrize("suffix", [".json", ".html"])
@pytest.mark.parametrize("mode", [(), ("--chunksize", "300")])
def test_json_and_html_outputs(capsys, tmp_path, forking, generated, suffix, mode):
    meds, pats = generated
    outs = []
    for workers in ("1", "2"):
        target = tmp_path / f"out{workers}{suffix}"
        code, _, err = run(capsys, meds, "--patients", pats, "-o", str(target), "--workers", workers, *mode)
        outs.append((code, target.read_bytes(), err.splitlines()[-1]))
    assert outs[0] == outs[1]
    assert forking.made == 1


def test_stdin_input(capsys, monkeypatch, forking, generated):
    meds, pats = generated
    data = Path(meds).read_bytes()
    runs = []
    for workers in ("1", "2"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        runs.append(run(capsys, "-", "--patients", pats, "--chunksize", "500", "--workers", workers))
    same(*runs)
    file_run = run(capsys, meds, "--patients", pats, "--chunksize", "500", "--workers", "1")
    assert runs[0][1] == file_run[1]


def test_small_input_is_not_forked_for(capsys, tmp_path, monkeypatch):
    CountingPool.made = 0
    monkeypatch.setattr(partition, "ProcessPoolExecutor", CountingPool)
    path = _big(tmp_path, shuffle=True)
    one, two = both(capsys, path, "--chunksize", "40")
    same(one, two)
    assert CountingPool.made == 0  # under MIN_FORK_BYTES


def test_an_audit_leaves_the_collector_as_it_found_it(capsys, forking, generated):
    """An embedding program's garbage-collector settings survive an audit run in its process."""
    before = gc.get_threshold()
    meds, pats = generated
    run(capsys, meds, "--patients", pats, "--workers", "2")
    assert run(capsys, meds + ".missing")[0] == 2  # and an unreadable input, which ends the run early
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    src = open_source(meds)  # the partitions run from Python, not the command
    try:
        assert len(list(partition.run_memory(src, no_patients(), partition.Options(workers=2)))) > 1
    finally:
        src.close()
    assert gc.get_freeze_count() == 0


def test_environment_sets_the_default(monkeypatch):
    monkeypatch.setenv("MEDCHECK_AUDIT_WORKERS", "3")
    assert partition.Options().workers == 3
    monkeypatch.setenv("MEDCHECK_AUDIT_WORKERS", "auto")
    assert partition.Options().workers == min(audit_workers.usable_cpus(), audit_workers.AUTO_MAX_WORKERS)
    monkeypatch.setenv("MEDCHECK_AUDIT_WORKERS", "nonsense")
    assert partition.Options().workers == 1
    monkeypatch.delenv("MEDCHECK_AUDIT_WORKERS")
    assert partition.Options().workers == min(audit_workers.usable_cpus(), audit_workers.AUTO_MAX_WORKERS)


def test_first_row_parts_keep_patients_whole_and_in_first_row_order():
    rng = np.random.default_rng(3)
    ids = [f" p{x} " if x % 7 == 0 else f"p{x}" for x in rng.integers(0, 60, 400)]
    rows = pd.DataFrame({"_row": np.arange(1, 351), "patient_id": [i.strip() for i in ids[:350]]})
    bad = pd.DataFrame({"_row": np.arange(351, 401), "patient_id": ids[350:]})
    part_r, part_b = partition.first_row_parts(rows, bad, 4)
    every = pd.DataFrame(
        {
            "pid": [i.strip() for i in ids],
            "row": np.r_[rows["_row"], bad["_row"]],
            "part": np.r_[part_r, part_b],
        }
    )
    per = every.groupby("pid").agg(first=("row", "min"), parts=("part", "nunique"), part=("part", "first"))
    assert (per["parts"] == 1).all()  # whole patients
    ordered = per.sort_values("first")["part"].to_numpy()
    assert (np.diff(ordered) >= 0).all() and set(ordered) == {0, 1, 2, 3}


def test_merged_totals_are_the_added_totals(generated, monkeypatch):
    """Counters made where each partition is audited and merged in order equal adding the
    partitions' results one by one (the summary line and the HTML page depend on them)."""
    from checker.audit import output
    from checker.audit.evaluate import audit_rows
    from checker.audit.normalize import no_patients
    from checker.audit.source import open_source

    monkeypatch.setattr(output, "HTML_PATIENTS", 7)  # the worst-patients heap must overflow
    src = open_source(generated[0])
    try:
        rows, bad = partition.read_all(src)
    finally:
        src.close()
    part_r, part_b = partition.first_row_parts(rows, bad, 3)
    results = [audit_rows(rows[part_r == p], bad[part_b == p], no_patients()) for p in range(3)]
    added, merged = output.Totals(), output.Totals()
    for res in results:
        added.add(res)
        merged.merge(output.Totals.of(res))
    assert output.render_html(added) == output.render_html(merged)
    assert added.line("utf-8") == merged.line("utf-8")
    assert list(added.codes.items()) == list(merged.codes.items())
    assert sorted(added.worst) == sorted(merged.worst) and len(added.worst) == 7
