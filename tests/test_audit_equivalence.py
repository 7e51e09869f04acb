"""The audit gives, for every patient, exactly what `check()` gives on that patient's valid rows."""

from __future__ import annotations

import csv

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import InvalidRegimen, check
from checker.audit.evaluate import audit_rows
from checker.audit.normalize import load_patients, no_patients
from checker.audit.partition import read_all
from checker.audit.source import open_source
from checker.schemas import load_regimen
from formulary import load as load_formulary

F = load_formulary()
NAMES = sorted({n for d in F.drugs.values() for n in (d.id, d.name, *d.brands[:1], *d.synonyms[:1])})
NAMES += [
    "blorfinax",
    "ACETAMINOPHEN",
    "Tylenol",
    "oxycodone",
    "warfarin",
    "aspirin",
    "ibuprofen",
    "sertraline",
    "tramadol",
    "morphine",
    "fentanyl",
    "gabapentin",
    "zoledronic acid",
    "radium-223",
    "vitamin D3",
]
UNITS = [
    "mg",
    "g",
    "mcg",
    "ug",
    "µg",
    "IU",
    "units",
    "kBq/kg",
    "kBq",
    "mg/kg",
    "ug/h",
    "mCi",
    "tabs",
    "blorp",
    "mg/day",
    "MBq",
]
ROUTES = ["oral", "po", "iv", "sc", "im", "transdermal", "intranasal", "topical", "bogus"]
FREQS = [
    "q4h",
    "q6h",
    "q8h",
    "q12h",
    "q72h",
    "daily",
    "bid",
    "tid",
    "qid",
    "qhs",
    "weekly",
    "monthly",
    "every 4 weeks",
    "once",
    "q1h",
    "every 3-4 weeks",
    "sometimes",
]
SIGS = [
    "1 g PO q6h PRN pain",
    "10 mg IV bolus then 4 mg IV/PO every 6 h",
    "5–15 mg orally every 4 h PRN",
    "300 mg qHS → up to 1.2 g TID",
    "12 µg/h changed every 72 h",
    "55 kBq/kg IV every 4 weeks × 6",
    "1 g every 6 h (≤4 g/day)",
    "15 mg IV q6 h (≤5 days)",
    "200 IU in alternate nostril daily",
    "take two tabs",
    "4 mg IV over 15 min every 4 weeks",
    "50 mg po q4h prn",
]
CONDITIONS = [
    "bone_metastases",
    "gi_bleed_history",
    "peptic_ulcer",
    "alcohol_use",
    "heart_failure",
    "seizure_disorder",
    "hypocalcemia",
    "bleeding_disorder",
    "made_up_condition",
]
MED_COLUMNS = [
    "drug",
    "dose",
    "unit",
    "route",
    "frequency",
    "prn",
    "duration_days",
    "dose_number",
    "max_daily_dose",
    "max_daily_unit",
    "sig",
    "rxcui",
    "atc",
]
PATIENT_COLUMNS = [
    "age_years",
    "weight_kg",
    "sex",
    "crcl_ml_min",
    "serum_creatinine",
    "egfr",
    "hepatic_impairment",
    "qtc_ms",
    "serum_calcium",
    "albumin",
    "platelets",
    "anc",
    "hemoglobin",
    "opioid_tolerant",
    "dental_exam_done",
    "pregnant",
    "conditions",
]

dose = st.one_of(
    st.sampled_from([1, 2, 4, 5, 10, 15, 25, 30, 50, 100, 300, 400, 600, 800, 1000, 1200, 4000]),
    st.floats(0.01, 5000, allow_nan=False).map(lambda x: round(x, 3)),
    st.sampled_from(["5-15", "1-2", "abc", "0", "-4"]),
)
med = st.fixed_dictionaries(
    {},
    optional={
        "drug": st.sampled_from(NAMES),
        "dose": dose,
        "unit": st.sampled_from(UNITS),
        "route": st.sampled_from(ROUTES),
        "frequency": st.sampled_from(FREQS),
        "prn": st.booleans(),
        "duration_days": st.sampled_from([1, 3, 5, 7, 14, 400]),
        "dose_number": st.sampled_from([1, 2, 6, 7, 12]),
        "max_daily_dose": st.sampled_from([2, 3, 4, 40]),
        "max_daily_unit": st.sampled_from(["g", "mg"]),
        "sig": st.sampled_from(SIGS),
        "atc": st.sampled_from(["N02BE01", "B01AA03", "bad"]),
    },
)
patient = st.fixed_dictionaries(
    {},
    optional={
        "age_years": st.sampled_from([8, 40, 66, 80]),
        "weight_kg": st.sampled_from([45, 52.5, 80, 120]),
        "sex": st.sampled_from(["male", "female", "f"]),
        "crcl_ml_min": st.sampled_from([10, 25, 45, 90]),
        "serum_creatinine": st.sampled_from(["1.6 mg/dL", "141 umol/L", "0.9"]),
        "egfr": st.sampled_from([20, 70]),
        "hepatic_impairment": st.sampled_from(["none", "mild", "severe", "Child-Pugh B", "awful"]),
        "qtc_ms": st.sampled_from([420, 510]),
        "serum_calcium": st.sampled_from(["9.0 mg/dL", "1.9 mmol/L"]),
        "albumin": st.sampled_from(["4.2 g/dL", "2.5 g/dL"]),
        "platelets": st.sampled_from(["140 10^9/L", "40"]),
        "anc": st.sampled_from(["2.1 10^9/L", "0.8"]),
        "hemoglobin": st.sampled_from(["11.2 g/dL", "7"]),
        "opioid_tolerant": st.booleans(),
        "dental_exam_done": st.booleans(),
        "pregnant": st.booleans(),
        "conditions": st.lists(st.sampled_from(CONDITIONS), max_size=3, unique=True),
    },
)
population = st.lists(st.tuples(patient, st.lists(med, min_size=0, max_size=6)), min_size=1, max_size=5)


def cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ";".join(v)
    return repr(v) if isinstance(v, float) else str(v)


def write_csv(path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def valid(m: dict) -> bool:
    try:
        load_regimen({"medications": [m]})
    except InvalidRegimen:
        return False
    return True


def audit(tmp_path, pop, shuffle_seed: int | None = None):
    rows, prow = [], []
    for i, (p, meds) in enumerate(pop):
        pid = f"p{i}"
        prow.append([pid] + [cell(p.get(c)) for c in PATIENT_COLUMNS])
        rows += [[pid] + [cell(m.get(c)) for c in MED_COLUMNS] for m in meds]
    order = list(range(len(rows)))
    if shuffle_seed is not None:
        import random

        random.Random(shuffle_seed).shuffle(order)
    write_csv(
        tmp_path / "meds.csv", ["Patient_ID", *[c.upper() for c in MED_COLUMNS]], [rows[i] for i in order]
    )
    write_csv(tmp_path / "patients.csv", ["patient_id", *PATIENT_COLUMNS], prow)
    src = open_source(str(tmp_path / "meds.csv"))
    r, b = read_all(src)
    psrc = open_source(str(tmp_path / "patients.csv"), required=("patient_id",))
    pr, _ = read_all(psrc)
    res = audit_rows(r, b, load_patients(pr) if len(pr) else no_patients())
    return res, order


def expected(pop, order: list[int]) -> dict[str, list[tuple]]:
    """check() per patient on its valid rows, medications mapped to 1-based row numbers."""
    row_of: dict[int, int] = {src: pos + 1 for pos, src in enumerate(order)}
    out: dict[str, list[tuple]] = {}
    k = 0
    for i, (p, meds) in enumerate(pop):
        pid = f"p{i}"
        rows = list(range(k, k + len(meds)))
        k += len(meds)
        ok = [(row_of[r], m) for r, m in zip(rows, meds, strict=True) if valid(m)]
        ok.sort(key=lambda t: t[0])
        try:
            load_regimen({"patient": {"id": pid, **p}, "medications": []})
            pat = {"id": pid, **p}
        except InvalidRegimen:
            pat = {"id": pid}
        if not meds:
            continue
        rep = check({"patient": pat, "medications": [m for _, m in ok]})
        found = [
            (
                f.severity,
                f.category,
                f.code,
                ";".join(f.drugs),
                ";".join(str(ok[i][0]) for i in f.medications),
                f.message,
                f.recommendation,
            )
            for f in rep.findings
        ]
        out[pid] = found
    return out


def actual(res) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    engine_side = res.findings[
        ~res.findings["code"].isin(["input.row_invalid", "input.patient_invalid", "input.row_malformed"])
    ]
    for rec in engine_side.itertuples(index=False):
        out.setdefault(rec.patient_id, []).append(
            (rec.severity, rec.category, rec.code, rec.drugs, rec.rows, rec.message, rec.recommendation)
        )
    return out


# AUDIT_EXAMPLES=500 hunts harder for differences; CI keeps the default.
AUDIT_SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("AUDIT_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def audit_and_compare(tmp_path, pop, seed):
    """Audit the population as CSV; every patient's findings must be what check() gives."""
    res, order = audit(tmp_path, pop, seed)
    want = expected(pop, order)
    got = actual(res)
    for pid, found in want.items():
        assert got.get(pid, []) == found, pid
    return res, want, got


@AUDIT_SETTINGS
@given(pop=population, seed=st.one_of(st.none(), st.integers(0, 1000)))
def test_audit_equals_check_per_patient(tmp_path, pop, seed):
    res, want, got = audit_and_compare(tmp_path, pop, seed)
    assert set(got) <= set(want)
    n_invalid = sum(not valid(m) for _, meds in pop for m in meds)
    assert (res.findings["code"] == "input.row_invalid").sum() == n_invalid
    assert res.rows_read == sum(len(m) for _, m in pop) and res.rows_rejected == n_invalid


@pytest.mark.parametrize("seed", [None, 3])
def test_known_population(tmp_path, seed):
    pop = [
        (
            {"age_years": 80, "crcl_ml_min": 25, "weight_kg": 52},
            [
                {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
                {"drug": "Tylenol", "sig": "1 g PO q6h PRN pain"},
                {"drug": "warfarin", "dose": 5, "unit": "mg"},
                {"drug": "ibuprofen", "dose": 800, "unit": "mg", "frequency": "tid"},
                {"dose": 5},
            ],
        ),
        (
            {},
            [
                {
                    "drug": "radium-223",
                    "dose": 55,
                    "unit": "kBq/kg",
                    "route": "iv",
                    "frequency": "every 4 weeks",
                },
                {"drug": "oxycodone", "dose": 40, "unit": "mg", "frequency": "q4h"},
                {"drug": "morphine", "dose": 30, "unit": "mg", "frequency": "q4h"},
            ],
        ),
    ]
    res, order = audit(tmp_path, pop, seed)
    assert actual(res) == expected(pop, order)
    assert {"dose.daily_max", "input.row_invalid"} <= set(res.findings["code"])
