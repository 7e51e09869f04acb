"""`medcheck` as a user runs it: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from checker.cli import main

REGIMEN = {
    "medications": [
        {"drug": "Tylenol", "sig": "1 g PO q6h"},
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h"},
    ]
}


def _write(tmp_path, data) -> str:
    p = tmp_path / "regimen.json"
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(p)


def test_check_prints_a_table(tmp_path, capsys):
    assert main(["check", _write(tmp_path, REGIMEN)]) == 0
    out = capsys.readouterr().out
    assert "MAJOR" in out and "8 g/day" in out and "\033[" not in out


def test_check_json_and_fail_on(tmp_path, capsys):
    assert main(["check", _write(tmp_path, REGIMEN), "--json", "--fail-on", "major"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["highest_severity"] == "major"


def test_fail_on_above_the_worst_finding_exits_0(tmp_path):
    assert main(["check", _write(tmp_path, REGIMEN), "--fail-on", "contraindicated"]) == 0


def test_bad_json_exits_2(tmp_path, capsys):
    assert main(["check", _write(tmp_path, "{not json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_schema_error_names_the_field(tmp_path, capsys):
    assert main(["check", _write(tmp_path, {"medications": [{"drug": "x", "dose": "lots"}]})]) == 2
    assert "medications.0.dose" in capsys.readouterr().err


def test_missing_file_and_bad_usage_exit_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.json")]) == 2
    assert main(["frobnicate"]) == 2


def test_formulary_lists_and_shows(capsys):
    assert main(["formulary"]) == 0
    assert "zoledronic_acid" in capsys.readouterr().out
    assert main(["formulary", "Zometa"]) == 0
    out = capsys.readouterr().out
    assert "4 mg" in out and "source:" in out
    assert main(["formulary", "nothing-like-this"]) == 2


def test_rules_catalogue(capsys):
    assert main(["rules", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["category"] for r in rows} >= {"interaction", "duplication", "renal", "monitoring"}
    assert all(r["source"] for r in rows)


def _medcheck(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checker", *args], capture_output=True, **kw)


def test_the_command_exits_with_its_code_and_all_its_output(tmp_path):
    """`medcheck` leaves without tearing the interpreter down (`cli.run`): nothing written may be
    lost on the way out, and the exit code is main's."""
    done = _medcheck("check", _write(tmp_path, REGIMEN), "--json", "--fail-on", "major", text=True)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["highest_severity"] == "major"
    assert done.stderr == ""


def test_output_that_cannot_be_written_is_a_message_and_exit_2(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "checker", "check", _write(tmp_path, REGIMEN), "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 2
    assert "standard output: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reader_that_stops_early_is_no_error(tmp_path):
    """`medcheck audit big.csv | head`: the pipe closes under the writer; that is the reader's
    choice, not a failure (exit 0, no traceback, no "Exception ignored")."""
    meds = tmp_path / "meds.csv"
    meds.write_text("patient_id,drug,dose,unit,frequency\n" + "P1,tramadol,500,mg,q6h\n" * 3000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", "audit", str(meds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline().startswith(b"patient_id,")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0
    assert "Traceback" not in err and "Exception ignored" not in err


def test_profiling_the_command_still_writes_the_profile(tmp_path):
    """The quick exit steps aside for a profiler (`python -m cProfile -m checker ...`)."""
    out = tmp_path / "check.prof"
    regimen = _write(tmp_path, REGIMEN)
    cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "checker", "check", regimen]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_version_names_the_package_and_the_knowledge():
    from checker.engine import knowledge_version

    done = _medcheck("--version", text=True)
    assert done.returncode == 0
    assert done.stdout.startswith("medcheck ") and f"knowledge {knowledge_version()}" in done.stdout
