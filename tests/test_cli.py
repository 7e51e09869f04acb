"""`medcheck` as a user runs it: output and exit codes."""

from __future__ import annotations

import json

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
