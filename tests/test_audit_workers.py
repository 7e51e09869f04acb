"""The output is byte-identical for any number of workers, in every mode and format."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.audit import run as audit_run
from tests.test_audit_cli import _big, run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("gen")
    meds, pats = folder / "m.csv", folder / "p.csv"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gen_meds.py"),
            "3000",
            str(meds),
            "--patients",
            str(pats),
        ],
        check=True,
    )
    return str(meds), str(pats)


@pytest.fixture
def forking(monkeypatch):
    monkeypatch.setattr(audit_run, "MIN_FORK_BYTES", 0)
    monkeypatch.setattr(audit_run, "BATCH_ROWS", 300)


@pytest.mark.parametrize("mode", [(), ("--chunksize", "500")])
@pytest.mark.parametrize("suffix", [".csv", ".json", ".html"])
def test_workers_write_the_same_bytes(capsys, tmp_path, forking, generated, mode, suffix):
    meds, pats = generated
    outs = []
    for n in ("1", "2", "3"):
        out = tmp_path / f"r{n}{suffix}"
        code, _, err = run(
            capsys, meds, "--patients", pats, "-o", str(out), "--workers", n, "--keep-columns", *mode
        )
        assert code == 0, err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    if suffix == ".json":
        doc = json.loads(outs[0])
        assert doc["summary"]["rows_read"] == 3000 and len(doc["patients"]) == doc["summary"]["patients"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_chunked_unsorted_input_is_partitioned_and_stable(capsys, tmp_path, forking, shuffle):
    path = _big(tmp_path, shuffle)
    one = run(capsys, path, "--chunksize", "40", "--workers", "1")
    two = run(capsys, path, "--chunksize", "40", "--workers", "2")
    whole = run(capsys, path)
    assert one[1] == two[1] and sorted(one[1].splitlines()) == sorted(whole[1].splitlines())
    assert one[2].splitlines()[-1] == whole[2].splitlines()[-1]


def test_stdin_input_with_workers(capsys, monkeypatch, forking, generated):
    meds, _ = generated
    _, from_file, _ = run(capsys, meds, "--workers", "2")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(meds).read_bytes())))
    code, from_stdin, _ = run(capsys, "-", "--workers", "2", "--chunksize", "700")
    assert code == 0 and from_stdin == from_file


def test_environment_sets_the_default(capsys, monkeypatch, forking, generated):
    meds, _ = generated
    monkeypatch.setenv("MEDCHECK_AUDIT_WORKERS", "2")
    assert run(capsys, meds)[1] == run(capsys, meds, "--workers", "1")[1]
    assert run(capsys, meds, "--workers", "0")[0] == 2
