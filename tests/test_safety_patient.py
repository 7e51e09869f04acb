"""Input safety (issue 14): numbers that are not finite positive floats are field errors, every
string is bounded, patient fields read the way people write them, one unreadable patient field
costs only that field, and `medcheck check` exits 2 naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import check
from checker.cli import main
from checker.errors import InvalidRegimen
from checker.labs import parse_lab
from checker.schemas import MAX_CONDITIONS, MAX_MEDICATIONS, load_patient_fields, load_regimen

ROOT = Path(__file__).resolve().parents[1]
APAP = {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"}
HUGE = 10**400  # 401 digits


def _errors(regimen: dict) -> dict[str, list[str]]:
    with pytest.raises(InvalidRegimen) as exc:
        check(regimen)
    return exc.value.errors


def _patient(**fields) -> dict:
    return {"patient": fields, "medications": [APAP]}


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dose", 0),
        ("dose", -1),
        ("dose", "-5"),
        ("dose", "0-0"),
        ("dose", HUGE),
        ("dose", -HUGE),
        ("dose", float("nan")),
        ("dose", float("inf")),
        ("dose", "1e999"),
        ("dose", "9" * 401),
        ("max_daily_dose", HUGE),
        ("max_daily_dose", 0),
        ("max_daily_dose", float("nan")),
        ("duration_days", HUGE),
        ("duration_days", 0),
        ("duration_days", float("inf")),
        ("dose_number", HUGE),
        ("dose_number", 1.5),
        ("dose_number", True),
    ],
)
def test_a_bad_number_in_an_order_is_a_field_error(field, value):
    assert f"medications.0.{field}" in _errors({"medications": [{**APAP, field: value}]})


@pytest.mark.parametrize(
    "field", ["age_years", "weight_kg", "crcl_ml_min", "egfr", "qtc_ms", "serum_creatinine", "platelets"]
)
@pytest.mark.parametrize("value", [HUGE, -HUGE, float("nan"), float("inf"), True])
def test_a_bad_number_in_the_patient_is_a_field_error(field, value):
    assert f"patient.{field}" in _errors(_patient(**{field: value}))


@pytest.mark.parametrize(
    "regimen",
    [
        {"medications": [{**APAP, "drug": "acet\ud800"}]},
        {"medications": [{**APAP, "sig": "1 g \udfff"}]},
        {"medications": [{**APAP, "\ud800": 1}]},
        {"medications": [APAP], "patient": {"conditions": ["\ud83d"]}},
        {"medications": [APAP], "patient": {"id": "p\udc00"}},
        {"medications": "not a list"},
        {"medications": [["a list"]]},
        {"medications": [APAP], "patient": ["a list"]},
        {"medications": [{**APAP, "start_date": 20240101}]},
        {"medications": [{**APAP, "dose": {"value": 1}}]},
    ],
)
def test_bad_input_of_any_kind_raises_invalid_regimen_only(regimen):
    errors = _errors(regimen)
    for path, messages in errors.items():
        (path + "".join(messages)).encode("utf-8")  # printable: no lone surrogate survives


# --- lengths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [("drug", 200), ("sig", 500), ("unit", 50), ("route", 50), ("frequency", 100), ("max_daily_unit", 50),
     ("rxcui", 10), ("atc", 7)],
)  # fmt: skip
def test_every_order_string_has_a_length_limit(field, limit):
    assert f"medications.0.{field}" in _errors({"medications": [{**APAP, field: "1" * (limit + 1)}]})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "p" * 201),
        ("sex", "f" * 61),
        ("hepatic_impairment", "b" * 61),
        ("serum_creatinine", "1.6" + " " * 40_000 + "mg/dL"),
        ("platelets", "140" + " " * 40_000),
        ("conditions", ["c" * 201]),
        ("conditions", ["diabetes"] * (MAX_CONDITIONS + 1)),
    ],
)
def test_every_patient_string_and_list_has_a_limit(field, value):
    started = time.perf_counter()
    assert any(k.startswith(f"patient.{field}") for k in _errors(_patient(**{field: value})))
    assert time.perf_counter() - started < 1.0


def test_a_list_of_a_million_orders_is_refused_by_its_length_at_once():
    started = time.perf_counter()
    assert "medications" in _errors({"medications": [APAP] * 1_000_000})
    assert time.perf_counter() - started < 1.0
    assert len(load_regimen({"medications": [APAP] * MAX_MEDICATIONS}).medications) == MAX_MEDICATIONS


@pytest.mark.parametrize("padding", [" " * 40_000, "\t" * 40_000, "1" * 40_000, "." * 40_000])
def test_a_padded_lab_string_answers_in_milliseconds(padding):
    for text in (f"1.6{padding}mg/dL", f"{padding}x", f"1{padding}"):
        started = time.perf_counter()
        with pytest.raises(ValueError):
            parse_lab("serum_creatinine", text)
        assert time.perf_counter() - started < 0.05  # the old pattern took 19 s


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.6 mg/dL", 1.6), ("141 umol/L", 141 / 88.42), ("1.6mg/dL", 1.6), ("  1.6   mg/dL  ", 1.6)],
)
def test_lab_strings_still_read(text, value):
    assert parse_lab("serum_creatinine", text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["140 10^9/L", "140 x 10^9/L", "140×10^9/L", "140000 /uL", "140 10*3/uL"])
def test_count_labs_still_read(text):
    assert parse_lab("platelets", text) == pytest.approx(140)


@pytest.mark.parametrize("value", [2.3, "2.3", "3.2", 4.5, "1.9"])
def test_a_calcium_without_its_unit_that_could_be_mmol_is_refused_naming_the_field(value):
    """A bare 2.3 (normal in mmol/L) was read as 2.3 mg/dL: a false "hypocalcaemia: contraindicated"
    on denosumab, and a bare 3.2 (hypercalcaemia in mmol/L) hid the hypercalcaemia caution."""
    assert list(_errors(_patient(serum_calcium=value))) == ["patient.serum_calcium"]
    with pytest.raises(ValueError, match="mmol/L"):
        parse_lab("serum_calcium", value)


@pytest.mark.parametrize(
    ("value", "mg_dl"), [(9.2, 9.2), ("9.2", 9.2), ("2.3 mmol/L", 9.2184), ("6 mg/dL", 6)]
)
def test_a_calcium_that_can_only_be_mg_dl_or_says_its_unit_still_reads(value, mg_dl):
    assert parse_lab("serum_calcium", value) == pytest.approx(mg_dl)


# --- patient fields as people write them ---------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read"),
    [("F", "female"), ("f", "female"), ("Female", "female"), ("FEMALE", "female"), (" female ", "female"),
     ("M", "male"), ("m", "male"), ("Male", "male"), ("MALE", "male"),
     ("U", None), ("unknown", None), ("UNK", None), ("other", None), ("O", None), ("Unknown", None)],
)  # fmt: skip
def test_sex_reads_as_people_and_fhir_write_it(written, read):
    assert load_regimen(_patient(sex=written)).patient.sex == read


def test_sex_f_feeds_cockcroft_gault():
    report = check(
        {"patient": {"sex": "F", "age_years": 80, "weight_kg": 40, "serum_creatinine": "3 mg/dL"},
         "medications": [{"drug": "ketorolac", "dose": 15, "unit": "mg", "route": "iv", "frequency": "q6h"}]}
    )  # fmt: skip
    renal = [f for f in report.findings if f.code == "renal.ketorolac_advanced_renal"]
    assert renal and renal[0].evidence["crcl_estimated"] == "Cockcroft-Gault"


@pytest.mark.parametrize(
    ("written", "read"),
    [("Child-Pugh B", "moderate"), ("child pugh b", "moderate"), ("B", "moderate"), ("Moderate", "moderate"),
     ("Child-Pugh class C", "severe"), ("CP-A", "mild"), ("c", "severe"), ("None", "none"), ("MILD", "mild"),
     ("unknown", None)],
)  # fmt: skip
def test_hepatic_impairment_reads_as_people_write_it(written, read):
    assert load_regimen(_patient(hepatic_impairment=written)).patient.hepatic_impairment == read


@pytest.mark.parametrize(
    ("written", "read"),
    [("yes", True), ("Y", True), ("true", True), ("1", True), (1, True), ("TRUE", True), (True, True),
     ("no", False), ("N", False), ("false", False), ("0", False), (0, False), ("No", False)],
)  # fmt: skip
def test_yes_no_fields_read_as_people_write_them(written, read):
    p = load_regimen(_patient(opioid_tolerant=written, pregnant=written, dental_exam_done=written)).patient
    assert p.opioid_tolerant is p.pregnant is p.dental_exam_done is read
    assert load_regimen({"medications": [{**APAP, "prn": written}]}).medications[0].prn is read


@pytest.mark.parametrize(
    ("field", "value"), [("sex", "?"), ("hepatic_impairment", "a bit"), ("pregnant", "maybe")]
)
def test_an_unreadable_patient_field_is_named(field, value):
    assert list(_errors(_patient(**{field: value}))) == [f"patient.{field}"]


def test_load_patient_fields_keeps_the_readable_facts_and_reports_the_rest():
    patient, errors = load_patient_fields(
        {"id": "p1", "sex": "?", "age_years": 80, "weight_kg": "40", "egfr": 5,
         "hepatic_impairment": "Child-Pugh B", "pregnant": "no", "serum_creatinine": "lots",
         "conditions": ["diabetes"], "height": 170}
    )  # fmt: skip
    assert set(errors) == {"sex", "serum_creatinine", "height"}
    assert errors["sex"] and errors["serum_creatinine"]
    assert (patient.id, patient.age_years, patient.weight_kg, patient.egfr) == ("p1", 80, 40, 5)
    assert (patient.hepatic_impairment, patient.pregnant) == ("moderate", False)
    assert patient.conditions == ("diabetes",)
    assert patient.sex is None and patient.serum_creatinine_mg_dl is None


def test_load_patient_fields_agrees_with_the_schema_on_a_good_patient():
    raw = {"sex": "F", "age_years": 71, "weight_kg": 52, "serum_creatinine": "141 umol/L", "conditions": []}
    patient, errors = load_patient_fields(raw)
    assert errors == {} and patient == load_regimen({"patient": raw, "medications": []}).patient


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"medications": [{"drug": "acetaminophen", "dose": 1' + "0" * 400 + ', "unit": "g"}]}',
         "medications.0.dose"),
        ('{"medications": [{"drug": "acetaminophen", "dose": 1, "unit": "g", "duration_days": 1e400}]}',
         "medications.0.duration_days"),
        ('{"patient": {"sex": "?"}, "medications": []}', "patient.sex"),
        ('{"medications": [{"drug": "acet\\ud800", "dose": 1, "unit": "g"}]}', "medications.0.drug"),
    ],
)  # fmt: skip
def test_medcheck_check_exits_2_for_invalid_input_and_names_the_field(tmp_path, capsys, text, field):
    path = tmp_path / "regimen.json"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    assert field in capsys.readouterr().err


def test_medcheck_check_exits_2_on_json_nested_too_deeply_or_huge_numbers(tmp_path):
    for text in ("[" * 100_000 + "]" * 100_000, '{"medications": [{"dose": 1' + "0" * 5000 + "}]}"):
        path = tmp_path / "regimen.json"
        path.write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "checker", "check", str(path)], capture_output=True, text=True,
            cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr


def test_medcheck_check_surrogate_field_names_print(tmp_path):
    path = tmp_path / "regimen.json"
    path.write_text(json.dumps({"medications": [{**APAP, "\ud800": 1}]}))
    done = subprocess.run(
        [sys.executable, "-m", "checker", "check", str(path)], capture_output=True, text=True,
        cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "medications.0.\\ud800" in done.stderr


@pytest.mark.parametrize(
    ("field", "value", "unit"),
    [("serum_creatinine", "124", "124 umol/L"), ("albumin", "35", "35 g/L"), ("hemoglobin", "80", "80 g/L")],
)
def test_a_bare_si_lab_value_is_refused_naming_its_likely_unit(field: str, value: str, unit: str) -> None:
    """Labs sent bare in SI (creatinine 124, albumin 35) are refused, not guessed, and the error
    says which unit would make sense of them."""
    with pytest.raises(InvalidRegimen) as err:
        check({"patient": {field: value}, "medications": []})
    assert f"patient.{field}" in str(err.value) and f"'{unit}'" in str(err.value)


@pytest.mark.parametrize(
    ("field", "written", "read"),
    [
        ("weight_kg", "70 kg", 70.0),
        ("weight_kg", "154 lb", 69.853),
        ("weight_kg", "154 lbs", 69.853),
        ("weight_kg", "70000 g", 70.0),
        ("crcl_ml_min", "45 mL/min", 45.0),
        ("crcl_ml_min", "0.75 mL/s", 45.0),
        ("egfr", "41 mL/min/1.73m2", 41.0),
        ("egfr", "41 mL/min/1.73 m²", 41.0),
        ("qtc_ms", "462 msec", 462.0),
        ("age_years", "81 yrs", 81.0),
        ("age_years", "18 months", 1.5),
        ("age_years", "81 y/o", 81.0),
        ("age_years", "81 years old", 81.0),
    ],
)
def test_a_patient_number_written_with_its_unit_is_converted(field: str, written: str, read: float) -> None:
    """EHR exports write "154 lb" and "45 mL/min": refused, the weight or CrCl was unknown; read as
    the field's unit, a weight in pounds would more than double every per-kg dose."""
    patient = load_regimen({"medications": [APAP], "patient": {field: written}}).patient
    assert getattr(patient, field) == pytest.approx(read, abs=1e-3)


@pytest.mark.parametrize(
    ("field", "written", "said"),
    [("weight_kg", "70 mL", "kind"), ("weight_kg", "70 stone!", "reads"), ("crcl_ml_min", "45 mg", "kind"),
     ("qtc_ms", "0.46 kg", "kind")],
)  # fmt: skip
def test_a_patient_number_with_a_unit_of_another_kind_is_refused_by_name(
    field: str, written: str, said: str
) -> None:
    errors = _errors(_patient(**{field: written}))
    assert list(errors) == [f"patient.{field}"]
    assert said in " ".join(errors[f"patient.{field}"])


@settings(max_examples=200, deadline=None)
@given(kg=st.floats(1, 400), unit=st.sampled_from([("kg", 1.0), ("lb", 0.45359237), ("g", 0.001)]))
def test_any_weight_in_kg_lb_or_g_reads_as_its_kilograms(kg: float, unit: tuple[str, float]) -> None:
    name, per_unit = unit
    written = f"{kg / per_unit:.6f} {name}"
    patient, errors = load_patient_fields({"weight_kg": written})
    assert errors == {} and patient.weight_kg == pytest.approx(kg, rel=1e-6)
