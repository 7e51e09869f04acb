"""`medcheck audit` end to end: exit codes, accounting, encodings, outputs, chunked and Dask modes."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys

import pytest

from checker.cli import main

HEADER = "Patient_ID,Drug,Dose,Unit,Route,Frequency,Sig,Ward\n"
ROWS = [
    "p1,acetaminophen,1,g,oral,q6h,,a\n",
    "p1,Tylenol,,,,,1 g PO q6h PRN pain,b\n",
    "p2,ibuprofen,abc,mg,,,,c\n",  # row 3: unreadable dose
    "p2,blorfinax,5,mg,,,,d\n",
    "p3,radium-223,3.85,mg,iv,,,=cmd\n",
    ",aspirin,81,mg,,,,\n",  # row 6: no patient id
    "p4,ketorolac,15,mg,iv,q6h,,e,extra\n",  # row 7: a field too many
    'p4,warfarin,5,mg,oral,daily,"broken,f\n',  # row 8: broken quote
    "p4,aspirin,81,mg,oral,daily,,g\n",
    "p5,,5,mg,,,,h\n",  # row 10: no drug
]


def write(tmp_path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def findings(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def meds(tmp_path) -> str:
    return write(tmp_path, "meds.csv", HEADER + "".join(ROWS))


def test_every_row_is_accounted_for(capsys, meds):
    code, out, err = run(capsys, meds)
    assert code == 0
    rows = findings(out)
    assert list(rows[0]) == [
        "patient_id",
        "rows",
        "severity",
        "category",
        "code",
        "rule",
        "drugs",
        "message",
        "recommendation",
    ]
    by_code = {}
    for r in rows:
        by_code.setdefault(r["code"], []).append(r)
    assert {r["rows"] for r in by_code["input.row_invalid"]} == {"3", "6", "10"}
    assert {r["rows"] for r in by_code["input.row_malformed"]} == {"7", "8"}
    assert (
        "expected 8 fields, found 9"
        in next(r for r in by_code["input.row_malformed"] if r["rows"] == "7")["message"]
    )
    assert "broken quote" in next(r for r in by_code["input.row_malformed"] if r["rows"] == "8")["message"]
    assert (
        by_code["dose.daily_max"][0]["rows"] == "1;2" and by_code["dose.daily_max"][0]["patient_id"] == "p1"
    )
    assert by_code["unrecognized.drug"][0]["rows"] == "4"
    assert by_code["dose.daily_max"][0]["rule"] == "dose.acetaminophen.0"  # the public rule id
    assert "10 rows read, 5 rows checked, 5 rows rejected, 5 patients" in err
    assert err.strip().splitlines()[-1].startswith("medcheck audit:")


def test_fail_on(capsys, meds):
    assert run(capsys, meds, "--fail-on", "major")[0] == 1
    assert run(capsys, meds, "--fail-on", "contraindicated")[0] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [("patient,drug\np1,x\n", "missing required column(s) patient_id"), ("", "empty file")],
)
def test_unusable_file_exits_2(capsys, tmp_path, text, message):
    code, out, err = run(capsys, write(tmp_path, "m.csv", text))
    assert code == 2 and message in err and out == ""


def test_missing_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "nope.csv"))
    assert code == 2 and "cannot read" in err


def test_encodings(capsys, tmp_path):
    latin = write(tmp_path, "l.csv", "patient_id,drug,dose,unit\np1,Caf\xe9ine,1,mg\n".encode("latin-1"))
    code, out, err = run(capsys, latin)
    assert code == 0 and "Latin-1" in err and "Caféine" in out
    bom = write(tmp_path, "b.csv", b"\xef\xbb\xbfPATIENT_ID,drug\np1,aspirin\n")
    code, _, err = run(capsys, bom)
    assert code == 0 and "byte-order mark" in err
    cp1252 = write(tmp_path, "w.csv", b"patient_id,drug,note\np1,blorfinax,\x93daily\x94 \x80\n")
    code, out, err = run(capsys, cp1252, "--keep-columns")
    assert code == 0 and "Windows-1252" in err and "\u201cdaily\u201d \u20ac" in out
    code, _, err = run(capsys, write(tmp_path, "x.csv", b"patient_id,drug\np1,aspirin\x81\n"))
    assert code == 2 and "neither UTF-8 nor Windows-1252" in err


def test_formulas_are_neutralised(capsys, tmp_path):
    path = write(tmp_path, "f.csv", "patient_id,drug,dose,unit,note\n=1+2,blorfinax,5,mg,@SUM(A1)\n")
    _, out, _ = run(capsys, path, "--keep-columns")
    [row] = findings(out)
    assert row["patient_id"] == "'=1+2" and row["note"] == "'@SUM(A1)"


def test_stdin_and_outputs(capsys, monkeypatch, tmp_path, meds):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(open(meds, "rb").read())))
    code, out, _ = run(capsys, "-")
    assert code == 0
    assert out == run(capsys, meds)[1]
    js = tmp_path / "r.json"
    assert run(capsys, meds, "-o", str(js))[0] == 0
    doc = json.loads(js.read_text())
    p1 = next(p for p in doc["patients"] if p["patient_id"] == "p1")
    daily = next(f for f in p1["findings"] if f["code"] == "dose.daily_max")
    assert daily["rows"] == [1, 2] and daily["medications"] == [0, 1]
    assert [m["row"] for m in p1["medications"]] == [1, 2]
    assert doc["summary"]["rows_rejected"] == 5
    page = tmp_path / "r.html"
    assert run(capsys, meds, "-o", str(page))[0] == 0
    html = page.read_text()
    assert "<svg" in html or 'class="bar"' in html
    assert "http" not in html.split("</style>")[0] and "<script" not in html
    assert "p1" in html and "Findings by category" in html


def test_patients_file(capsys, tmp_path, meds):
    pats = write(
        tmp_path,
        "p.csv",
        "patient_id,weight_kg,age_years,conditions\np1,52,81,alcohol_use;made_up\np2,heavy,40,\n",
    )
    _, out, _ = run(capsys, meds, "--patients", pats)
    rows = findings(out)
    assert any(r["code"] == "input.patient_invalid" and r["patient_id"] == "p2" for r in rows)
    assert any(r["code"] == "input.condition_unknown" and r["patient_id"] == "p1" for r in rows)


def test_columns_no_field_reads_are_named_with_the_field_they_meant(capsys, tmp_path):
    """A patients file headed "age, weight, crcl" would otherwise be audited as if nothing were
    known of the patients, and "dosage" as if no dose were ordered, with nothing said."""
    pats = write(tmp_path, "p.csv", "patient_id,Age,weight,crcl,gender,mrn\np1,81,45,22,F,123\n")
    med = write(tmp_path, "m.csv", "patient_id,drug,dosage,unit,freq,ward\np1,ibuprofen,800,mg,tid,4B\n")
    code, out, err = run(capsys, med, "--patients", pats)
    assert code == 0
    assert (
        "p.csv: columns that are not patient fields were ignored: age (did you mean age_years?), "
        "weight (did you mean weight_kg?), crcl (did you mean crcl_ml_min?), gender (did you mean sex?), mrn"
    ) in err
    assert (
        "m.csv: columns carried through unread, not as medication fields: dosage (did you mean dose?), "
        "freq (did you mean frequency?)" in err
    )
    assert "ward" not in err  # other medication columns are carried through on purpose (CONTRACT §5)
    assert any(r["code"] == "input.dose_missing" for r in findings(out))


def test_a_file_with_the_fields_named_right_gets_no_column_note(capsys, tmp_path, meds):
    pats = write(tmp_path, "p.csv", "patient_id,age_years,weight_kg\np1,81,45\n")
    _, _, err = run(capsys, meds, "--patients", pats)
    assert "columns" not in err


def test_null_and_na_cells_are_empty_cells_not_bad_rows(capsys, tmp_path):
    """Database and spreadsheet exports write NULL or N/A in empty cells: a warfarin row whose dose
    is "N/A" must still meet the ibuprofen beside it, not be rejected with its interaction unseen."""
    med = write(
        tmp_path,
        "m.csv",
        "patient_id,drug,dose,unit,frequency\np1,ibuprofen,NULL,mg,tid\np1,warfarin,N/A,mg,daily\n",
    )
    pats = write(tmp_path, "p.csv", "patient_id,age_years,crcl_ml_min,conditions\np1,NULL,#N/A,NA\n")
    code, out, err = run(capsys, med, "--patients", pats)
    assert code == 0 and "2 rows checked, 0 rows rejected" in err
    rows = findings(out)
    assert any(r["code"] == "interaction.nsaid_anticoagulant" for r in rows)
    assert not any(
        r["code"] in ("input.row_invalid", "input.patient_invalid", "input.condition_unknown") for r in rows
    )


def _big(tmp_path, shuffle: bool) -> str:
    import random

    lines = []
    drugs = [
        "acetaminophen,1,g,oral,q4h",
        "oxycodone,40,mg,oral,q4h",
        "warfarin,5,mg,oral,daily",
        "ibuprofen,800,mg,oral,q6h",
        "gabapentin,900,mg,oral,tid",
        "blorfinax,1,mg,oral,daily",
        "sertraline,50,mg,oral,daily",
        "tramadol,100,mg,oral,q4h",
        "aspirin,81,mg,oral,daily",
    ]
    rng = random.Random(5)
    for p in range(150):
        for _ in range(rng.randint(1, 6)):
            lines.append(f"p{p:04d},{rng.choice(drugs)},note{p}\n")
    lines.insert(next(i for i, x in enumerate(lines) if x.startswith("p0010")), 'p0009,broken,"x,1\n')
    if shuffle:
        rng.shuffle(lines)
    return write(
        tmp_path, f"big{shuffle}.csv", "patient_id,drug,dose,unit,route,frequency,note\n" + "".join(lines)
    )


@pytest.mark.parametrize("shuffle", [False, True])
def test_chunked_matches_in_memory(capsys, tmp_path, shuffle):
    path = _big(tmp_path, shuffle)
    whole = run(capsys, path)
    chunked = run(capsys, path, "--chunksize", "40")
    assert whole[0] == chunked[0] == 0
    if shuffle:  # partitioned: same findings, grouped by partition
        assert sorted(whole[1].splitlines()) == sorted(chunked[1].splitlines())
    else:
        assert whole[1] == chunked[1]
    assert whole[2].splitlines()[-1] == chunked[2].splitlines()[-1]


def test_course_limit_counts_every_order_in_the_audit_too(capsys, tmp_path):
    text = (
        "patient_id,drug,dose,unit,route,frequency,duration_days\n"
        "k1,ketorolac,15,mg,iv,q6h,3\n"
        "k2,acetaminophen,500,mg,oral,q6h,\n"
        "k1,ketorolac,10,mg,oral,q6h,3\n"
    )
    code, out, _ = run(capsys, write(tmp_path, "k.csv", text))
    assert code == 0
    [row] = [r for r in findings(out) if r["code"] == "dose.duration_max.combined"]
    assert row["patient_id"] == "k1" and row["rows"] == "1;3" and "6 days" in row["message"]


def test_large_sorted_input_streams_with_the_same_output(capsys, tmp_path):
    drugs = [("acetaminophen", 1000), ("ibuprofen", 800), ("tramadol", 100)] * 40
    lines = [f"p{i // 3:04d},{d},{dose},mg,oral,q6h\n" for i, (d, dose) in enumerate(drugs)]
    path = write(tmp_path, "sorted.csv", "patient_id,drug,dose,unit,route,frequency\n" + "".join(lines))
    _, whole, _ = run(capsys, path)
    _, streamed, _ = run(capsys, path, "--chunksize", "7")
    assert streamed == whole and whole.count("\n") > 40


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_a_message_not_a_traceback(capsys, monkeypatch, meds):
    """Output that cannot be written (here: no space left) ends the audit with exit 2 and a line
    naming the output, to a file or to standard output."""
    code, _, err = run(capsys, meds, "-o", "/dev/full")
    assert code == 2
    assert "cannot write /dev/full: No space left on device" in err
    full = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115 - its close fails too
    monkeypatch.setattr(sys, "stdout", full)
    code, _, err = run(capsys, meds)
    with contextlib.suppress(OSError):
        full.close()
    assert code == 2
    assert "cannot write standard output: No space left on device" in err


def test_html_page_escapes_every_cell(capsys, tmp_path):
    path = write(tmp_path, "h.csv", "patient_id,drug,dose,unit\n<script>x</script>,aspirin,81,mg\n")
    page = tmp_path / "r.html"
    assert run(capsys, path, "-o", str(page))[0] == 0
    text = page.read_text()
    assert "<script" not in text and "&lt;script&gt;x&lt;/script&gt;" in text


def test_none_is_a_value_not_an_empty_cell(capsys, tmp_path):
    """hepatic_impairment "none" is a grade: taken as empty, tramadol 200 mg was flagged against the
    severe-impairment limit "with hepatic function unknown"."""
    med = write(tmp_path, "m.csv", "patient_id,drug,dose,unit,frequency,route\np1,tramadol,100,mg,q6h,oral\n")
    pats = write(tmp_path, "p.csv", "patient_id,hepatic_impairment,crcl_ml_min,age_years\np1,none,90,60\n")
    _, out, _ = run(capsys, med, "--patients", pats)
    assert not any(r["code"].startswith("monitoring.dose.") for r in findings(out))
