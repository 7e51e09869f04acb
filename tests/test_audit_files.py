"""The batch audit never destroys or fakes a file, and no row can stop it (issue #14)."""

from __future__ import annotations

import csv
import io
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker.cli import main

ROOT = Path(__file__).resolve().parents[1]
MEDS = (
    "patient_id,drug,dose,unit,route,frequency\np1,acetaminophen,1,g,oral,q6h\np1,ibuprofen,800,mg,oral,q6h\n"
)


def audit(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def meds(tmp_path) -> Path:
    p = tmp_path / "meds.csv"
    p.write_text(MEDS)
    return p


@pytest.mark.parametrize("how", ["same", "hardlink", "symlink", "relative"])
def test_output_naming_the_input_is_refused_and_the_input_kept(capsys, tmp_path, meds, how, monkeypatch):
    out = {
        "same": meds,
        "hardlink": tmp_path / "h.csv",
        "symlink": tmp_path / "s.csv",
        "relative": Path("meds.csv"),
    }[how]
    if how == "hardlink":
        os.link(meds, out)
    elif how == "symlink":
        out.symlink_to(meds)
    monkeypatch.chdir(tmp_path)
    code, _, err = audit(capsys, str(meds), "-o", str(out))
    assert code == 2 and "is an input of this audit" in err
    assert meds.read_text() == MEDS


def test_output_naming_the_patients_file_is_refused(capsys, tmp_path, meds):
    pats = tmp_path / "p.csv"
    pats.write_text("patient_id,age_years\np1,80\n")
    assert audit(capsys, str(meds), "--patients", str(pats), "-o", str(pats))[0] == 2
    assert pats.read_text() == "patient_id,age_years\np1,80\n"


@pytest.mark.parametrize("name", ["report.xlsx", "report.csv.gz", "r.txt"])
def test_an_unknown_output_type_is_a_usage_error(capsys, tmp_path, meds, name):
    code, _, err = audit(capsys, str(meds), "-o", str(tmp_path / name))
    assert code == 2 and "unknown output type" in err and not (tmp_path / name).exists()


def test_output_is_replaced_whole_with_its_permissions_and_nothing_left(capsys, tmp_path, meds):
    out = tmp_path / "f.csv"
    out.write_text("old\n" * 100_000)
    out.chmod(0o640)
    assert audit(capsys, str(meds), "-o", str(out))[0] == 0
    assert out.read_text().startswith("patient_id,rows,") and (out.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "meds.csv"]
    link = tmp_path / "l.csv"
    link.symlink_to(out)
    assert audit(capsys, str(meds), "-o", str(link))[0] == 0
    assert link.is_symlink() and out.read_text().startswith("patient_id,rows,")


def test_stale_temporary_files_of_dead_owners_go_at_once(capsys, tmp_path, meds):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".f.csv.medcheck-{int(dead.stdout)}-abc"
    stale.write_text("half")
    mine = tmp_path / f".f.csv.medcheck-{os.getppid()}-xyz"  # a live owner's: kept
    mine.write_text("busy")
    assert audit(capsys, str(meds), "-o", str(tmp_path / "f.csv"))[0] == 0
    assert not stale.exists() and mine.exists()


def _limited(limit: int):
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


def test_a_full_disk_is_exit_2_with_the_summary_and_the_old_output_kept(tmp_path):
    rows = "".join(f"p{i},acetaminophen,2,g,oral,q4h\np{i},blorfinax,1,mg,oral,daily\n" for i in range(400))
    meds = tmp_path / "m.csv"
    meds.write_text("patient_id,drug,dose,unit,route,frequency\n" + rows)
    out = tmp_path / "f.csv"
    out.write_text("earlier\n")
    proc = subprocess.run(
        [sys.executable, "-m", "checker", "audit", str(meds), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env(),
        preexec_fn=_limited(50_000),
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "File too large" in proc.stderr and "no findings file was written" in proc.stderr
    assert "medcheck audit:" in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr
    assert out.read_text() == "earlier\n" and sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "m.csv"]


def _children(pid: int) -> set[int]:
    try:
        return {int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_sigkill_mid_run_keeps_the_old_output_and_leaves_no_worker(tmp_path):
    meds = tmp_path / "m.csv"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gen_meds.py"), "60000", str(meds)], check=True)
    out = tmp_path / "f.csv"
    out.write_bytes(b"earlier output\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", "audit", str(meds), "-o", str(out), "--workers", "2"],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) >= 2 and proc.poll() is None, "the audit should be busy in its workers"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "a worker outlived the audit"
    assert out.read_bytes() == b"earlier output\n"
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".f.csv.medcheck-")]
    small = tmp_path / "s.csv"
    small.write_text(MEDS)
    subprocess.run(
        [sys.executable, "-m", "checker", "audit", str(small), "-o", str(out)],
        env=env(),
        check=True,
        capture_output=True,
    )
    assert not any(p.exists() for p in left) and out.read_text().startswith("patient_id,rows,")


def test_sigterm_removes_the_temporary_file_and_keeps_the_old_output(tmp_path):
    meds = tmp_path / "m.csv"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gen_meds.py"), "30000", str(meds)], check=True)
    out = tmp_path / "f.csv"
    out.write_bytes(b"earlier output\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", "audit", str(meds), "-o", str(out), "--workers", "1"],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".f.csv.medcheck-") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert out.read_bytes() == b"earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "m.csv"]


BAD_CELLS = [
    "\x00",
    "1e400",
    "9" * 401,
    "x" * 100_000,
    "-0",
    "NaN",
    "inf",
    "5-",
    "=cmd|' /C calc'!A0",
    "\ud7ff",
]


@pytest.mark.parametrize(
    "column", ["drug", "dose", "unit", "route", "frequency", "prn", "dose_number", "sig", "note"]
)
def test_any_bad_value_in_any_column_is_that_rows_finding(capsys, tmp_path, column):
    header = ["patient_id", "drug", "dose", "unit", "route", "frequency", "prn", "dose_number", "sig", "note"]
    good = {
        "patient_id": "p1",
        "drug": "aspirin",
        "dose": "81",
        "unit": "mg",
        "route": "oral",
        "frequency": "daily",
    }
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for value in BAD_CELLS:
        w.writerow([{**good, column: value}.get(h, "") for h in header])
    w.writerow([good.get(h, "") for h in header])
    path = tmp_path / "m.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    code, out, err = audit(capsys, str(path))
    assert code == 0, err
    n = len(BAD_CELLS) + 1
    assert f"{n} rows read" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    refused = {r["rows"] for r in rows if r["code"] in ("input.row_invalid", "input.row_malformed")}
    checked = int(err.split(" rows checked")[0].rsplit(" ", 1)[1])
    assert len(refused) + checked == n and str(n) not in refused


def test_broken_quotes_nul_bytes_and_huge_cells_in_the_file_itself(capsys, tmp_path):
    body = (
        "patient_id,drug,dose\n"
        "p1,aspirin,81\n"
        'p1,"warfarin,5\n'  # row 2: a quote that never closes
        "p1,ibuprofen,800\n"
        "p2,\x00aspirin,81\n"
        "p3," + "y" * 2_000_000 + ",1\n"  # row 5: a cell over the reader's limit
        "p4,aspirin,81,extra\n"
        'p5,"two\nlines",81\n'  # row 7: a quoted value over two lines is one row
        "p6,aspirin,81\n"
    )
    path = tmp_path / "m.csv"
    path.write_text(body)
    code, out, err = audit(capsys, str(path))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    bad = {r["rows"]: r["code"] for r in rows if r["code"].startswith("input.row_")}
    assert bad["2"] == bad["6"] == "input.row_malformed" and bad["5"].startswith("input.row_")
    assert "8 rows read" in err and "7" not in bad and "8" not in bad
    assert any(r["patient_id"] == "p1" and r["rows"] == "3" for r in rows) or "p1" in out


@pytest.mark.parametrize("repeated", [False, True])
def test_thousands_of_columns_take_linear_time(capsys, tmp_path, repeated):
    extra = ["x"] * 20_000 if repeated else [f"c{i}" for i in range(20_000)]
    path = tmp_path / "m.csv"
    path.write_text(
        ",".join(["patient_id", "drug", *extra]) + "\n" + "p1,blorfinax" + ",v" * len(extra) + "\n"
    )
    start = time.process_time()  # CPU time: a busy machine does not slow it
    code, out, err = audit(capsys, str(path), "--keep-columns")
    assert time.process_time() - start < 10
    if repeated:
        assert code == 2 and "repeated column names" in err and len(err) < 1000
    else:
        assert code == 0 and out.count("\n") >= 2


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_semicolon_or_tab_separated_export_is_read_with_its_decimal_commas(capsys, tmp_path, sep):
    """Spreadsheets in comma-decimal locales save ";"-separated CSV with "0,5" doses: the file was
    refused whole ("missing required column(s) patient_id, drug")."""
    rows = [
        ["patient_id", "drug", "dose", "unit", "route", "frequency", "sig"],
        ["p1", "hydromorphone", "0,5", "mg", "iv", "q3h", ""],
        ["p1", "naproxen", "", "", "", "", "500 mg bid; with food"],
        ["p2", "acetaminophen", "1,000", "mg", "oral", "q4h", ""],
    ]
    meds = tmp_path / "meds.csv"
    meds.write_text("".join(sep.join(f'"{c}"' if ";" in c else c for c in r) + "\n" for r in rows))
    pats = tmp_path / "patients.csv"
    patient_rows = (["patient_id", "age_years", "conditions"], ["p1", "70", "GI bleed"])
    pats.write_text("".join(sep.join(r) + "\n" for r in patient_rows))
    report = tmp_path / "findings.json"
    code, out, err = audit(capsys, str(meds), "--patients", str(pats), "-o", str(report))
    assert code == 0, err
    assert "read as " in err and "-separated" in err
    import json

    reports = {r["patient_id"]: r for r in json.loads(report.read_text())["patients"]}
    assert reports["p1"]["medications"][0]["dose"] == "0.5 mg"  # not 5 mg
    assert "condition.nsaid_gi_bleed" in {f["code"] for f in reports["p1"]["findings"]}
    assert reports["p2"]["medications"][0]["daily_dose"] == "6 g/day"  # 1,000 mg q4h
    assert "dose.daily_max" in {f["code"] for f in reports["p2"]["findings"]}
