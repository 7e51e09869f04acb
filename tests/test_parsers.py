"""Sig, frequency and unit parsing: every seed-table dose line verbatim, and never a crash."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import InvalidRegimen, check
from checker.frequency import parse_frequency
from checker.sig import parse_sig
from formulary.units import UnitError, conversion_factor, parse_unit

# (sig, top dose, unit, route, interval_h)
SEED_LINES = [
    ("10 mg IV bolus then 4 mg IV/PO every 6 h", 4, "mg", "iv", 6),
    ("5–15 mg orally every 4 h PRN", 15, "mg", "oral", 4),
    ("10 mg every 12 h", 10, "mg", None, 12),
    ("12 µg/h changed every 72 h", 12, "µg/h", None, 72),
    ("2 mg PO every 4 h", 2, "mg", "oral", 4),
    ("50–100 mg every 6 h", 100, "mg", None, 6),
    ("2.5 mg q8 h, titrate", 2.5, "mg", None, 8),
    ("300 mg qHS → up to 1.2 g TID", 1.2, "g", None, 8),
    ("75 mg BID → 300 mg BID", 300, "mg", None, 12),
    ("10–25 mg at bedtime", 25, "mg", None, 24),
    ("4 mg IV over 15 min every 3–4 weeks", 4, "mg", "iv", 504),
    ("6 mg IV monthly", 6, "mg", "iv", 720),
    ("120 mg sub-Q every 4 weeks", 120, "mg", "sc", 672),
    ("55 kBq/kg IV every 4 weeks × 6", 55, "kbq/kg", "iv", 672),
    ("1 mCi/kg IV once", 1, "mci/kg", "iv", None),
    ("200 IU in alternate nostril daily", 200, "iu", "intranasal", 24),
    ("1 g every 6 h (≤4 g/day)", 1, "g", None, 6),
    ("400 mg every 8 h with food", 400, "mg", None, 8),
    ("75 mg BID with food", 75, "mg", None, 12),
    ("15 mg IV q6 h (≤5 days)", 15, "mg", "iv", 6),
    ("70 mg orally once weekly (upright 30 min, plain water)", 70, "mg", "oral", 168),
    ("20 µg sub-Q daily for 24 months", 20, "µg", "sc", 24),
    ("1 g PO q6h PRN pain", 1, "g", "oral", 6),
]


@pytest.mark.parametrize(("text", "dose", "unit", "route", "interval"), SEED_LINES)
def test_seed_lines_parse_verbatim(text, dose, unit, route, interval):
    sig = parse_sig(text)
    top = [p for p in sig.phases if not p.bolus][-1]
    assert (top.dose, top.unit, top.route) == (dose, unit, route)
    assert (top.frequency.interval_h if top.frequency else None) == interval
    assert sig.unparsed == ()


def test_sig_extras():
    assert parse_sig("1 g every 6 h (≤4 g/day)").max_daily == (4.0, "g")
    assert parse_sig("15 mg IV q6 h (≤5 days)").duration_days == 5
    assert parse_sig("55 kBq/kg IV every 4 weeks × 6").course_doses == 6
    assert parse_sig("5–15 mg orally every 4 h PRN").prn
    assert parse_sig("10 mg IV bolus then 4 mg IV/PO every 6 h").phases[0].bolus


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("q4h", 4),
        ("Q6H", 6),
        ("q8h", 8),
        ("q12h", 12),
        ("q72h", 72),
        ("qd", 24),
        ("daily", 24),
        ("bid", 12),
        ("TID", 8),
        ("qid", 6),
        ("qhs", 24),
        ("qod", 48),
        ("weekly", 168),
        ("monthly", 720),
        ("every 4 weeks", 672),
        ("every 3-4 weeks", 504),
        ("every 6 hours", 6),
        ("once", None),
        ("stat", None),
        ("q4-6h", 4),
        ("3 times daily", 8),
    ],
)
def test_frequencies(text, hours):
    assert parse_frequency(text).interval_h == hours


def test_unknown_frequency_is_none():
    assert parse_frequency("whenever") is None


@pytest.mark.parametrize(
    ("a", "b", "factor"),
    [
        ("MG", "mg", 1),
        ("Mg", "mg", 1),
        ("mcg", "ug", 1),
        ("µg", "ug", 1),
        ("μg", "ug", 1),
        ("g", "mg", 1000),
        ("mCi", "MBq", 37),
        ("cc", "mL", 1),
        ("ug/hr", "ug/h", 1),
        ("units", "IU", 1),
    ],
)
def test_unit_aliases(a, b, factor):
    assert conversion_factor(a, b) == pytest.approx(factor)


def test_bad_units_raise_unit_error():
    for bad in ("furlong", "", "mg/", "3"):
        with pytest.raises(UnitError):
            parse_unit(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_sig_parser_never_raises(text):
    sig = parse_sig(text)
    assert isinstance(sig.unparsed, tuple)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_frequency_parser_never_raises(text):
    parse_frequency(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_unit_parser_raises_only_unit_error(text):
    try:
        parse_unit(text)
    except UnitError:
        pass


@settings(max_examples=150, deadline=None)
@given(
    drug=st.sampled_from(["acetaminophen", "Tylenol", "ketorolac", "radium-223", "xyz", "Xgeva"]),
    sig=st.text(max_size=40),
    unit=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["mg", "g", "kBq/kg", "tablet"])),
    dose=st.one_of(st.none(), st.floats(min_value=0.001, max_value=1e6)),
)
def test_check_never_crashes_on_odd_orders(drug, sig, unit, dose):
    med = {"drug": drug, "sig": sig, "unit": unit or None, "dose": dose}
    try:
        report = check({"medications": [med]})
    except InvalidRegimen:
        return
    assert report.to_dict()["medications"][0]["index"] == 0


@settings(max_examples=60, deadline=None)
@given(dose=st.floats(min_value=1, max_value=5000), bump=st.floats(min_value=1.0, max_value=4.0))
def test_raising_a_dose_never_lowers_the_severity(dose, bump):
    from checker.model import SEVERITY_RANK

    def worst(d):
        r = check(
            {
                "medications": [
                    {"drug": "acetaminophen", "dose": d, "unit": "mg", "frequency": "q6h", "route": "oral"}
                ]
            }
        )
        return min(
            (SEVERITY_RANK[f.severity] for f in r.findings if f.category.startswith("dose")), default=9
        )

    assert worst(dose * bump) <= worst(dose)


@pytest.mark.parametrize(
    ("text", "dose", "unit"),
    [
        ("1,000–2,000 IU", 2000, "iu"),
        ("1,000–1,200 mg elemental", 1200, "mg"),
        ("1–2 g combined EPA + DHA", 2, "g"),
        ("90–180 µg", 180, "µg"),
        ("10 mg (1 mL of 1 %) under fluoroscopy", 10, "mg"),
        ("1.05 mg per level during reconstruction", 1.05, "mg"),
        ("1 × 10⁶ cells/kg IV or targeted scaffold", 1e6, "cells/kg"),
        ("1 mCi/kg IV single shot", 1, "mci/kg"),
        ("4 mg IV q3 – 4 weeks", 4, "mg"),
    ],
)
def test_seed_supplement_and_bone_agent_lines(text, dose, unit):
    sig = parse_sig(text)
    assert (sig.phases[-1].dose, sig.phases[-1].unit) == (dose, unit)
    assert sig.unparsed == ()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_dose_is_refused_even_after_the_same_order_without_a_dose(bad):
    """Validation is cached per distinct medication; NaN must not share a key with a missing dose."""
    med = {"drug": "acetaminophen", "unit": "mg", "route": "oral", "frequency": "q6h"}
    check({"medications": [{**med, "dose": None}]})
    with pytest.raises(InvalidRegimen) as err:
        check({"medications": [{**med, "dose": bad}]})
    assert "medications.0.dose" in err.value.errors


def test_one_and_true_are_not_the_same_cached_value():
    med = {"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h"}
    check({"medications": [{**med, "prn": True}]})
    with pytest.raises(InvalidRegimen) as err:
        check({"medications": [{**med, "prn": 1.5}]})
    assert "medications.0.prn" in err.value.errors
