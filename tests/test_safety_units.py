"""A unit is a unit, not an expression (issue 14): no dose turned into 0 or a negative number by
its unit, no unit that makes the checker compute for seconds, decided before pint sees it."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import check
from checker.merge import unmerged
from formulary.unit_text import ALIASES, DEFINED, PREFIXES, SYMBOLS, read_unit_text
from formulary.units import UnitError, conversion_factor, parse_unit, ureg

HOSTILE = ["-g", "g*0", "0 g", "g-g", "g*-1", "mg*10^400", "10^100000000", "mg*9**9**9", "2 mg",
           "mg^-1", "g/0", "1/g", "mg**-1", "(mg)", "mg+mg", "1e3 mg", "mg*kg", "g·0", "×0", "mg-",
           "10^999/L"]  # fmt: skip
SERIOUS = ("contraindicated", "major", "moderate")


def _order(unit: str, drug: str = "acetaminophen", dose: float = 1) -> dict:
    return {"medications": [{"drug": drug, "dose": dose, "unit": unit, "route": "oral", "frequency": "q6h"}]}


@pytest.mark.parametrize("unit", HOSTILE)
def test_an_expression_for_a_unit_is_a_unit_finding_and_the_dose_is_not_checked(unit):
    started = time.perf_counter()
    report = check(_order(unit))
    assert time.perf_counter() - started < 1.0
    unit_findings = [f for f in report.findings if f.category == "unit"]
    assert unit_findings and all(f.severity in SERIOUS for f in unit_findings)
    assert "not checked" in unit_findings[0].message
    summary = report.medications[0]
    assert "dose" not in summary and "daily_dose" not in summary  # never 0 g, never -4 g/day


@pytest.mark.parametrize("unit", HOSTILE + ["", " ", "x" * 51, "m" * 10_000, "/" * 10_000, "10^" * 5000])
def test_hostile_units_are_refused_in_microseconds_before_pint(unit):
    took = []
    for _ in range(5):  # the best of five: a loaded machine may pause any one of them
        started = time.perf_counter()
        with pytest.raises(UnitError):
            read_unit_text.__wrapped__(unit)  # the decision itself, not a cached answer
        took.append(time.perf_counter() - started)
    assert min(took) < 0.002
    with pytest.raises(UnitError):
        parse_unit(unit)


def test_overdose_in_grams_is_still_caught_and_never_hidden_by_the_unit():
    report = check(_order("g", dose=2))
    assert any(f.code == "dose.single_max" for f in unmerged(report.findings))  # beside the daily total


@pytest.mark.parametrize(
    ("text", "target", "factor"),
    [
        ("mg", "g", 0.001),
        ("MG", "mg", 1),
        ("mcg", "mg", 0.001),
        ("µg", "ug", 1),
        ("kBq/kg", "MBq/kg", 0.001),
        ("ug/h", "mg/day", 0.024),
        ("mcg/hr", "ug/h", 1),
        ("mg/m2", "mg/m²", 1),
        ("mg/m^2", "mg/m2", 1),
        ("mL/min", "L/h", 0.06),
        ("mg per kg", "mg/kg", 1),
        ("ug/kg/min", "mg/kg/h", 0.06),
        ("10^9/L", "/uL", 1000),
        ("x10^9/L", "10^9/L", 1),
        ("10*3/uL", "10^9/L", 1),
        ("10⁹/L", "10^9/L", 1),
        ("/uL", "/L", 1e6),
        ("10^6 cells/kg", "cells/kg", 1e6),
        ("cells/mm3", "cells/uL", 1),
        ("µmol/L", "umol/L", 1),
        ("nmol/mL", "umol/L", 1),
        ("mIU/mL", "IU/L", 1),
        ("MIU", "IU", 1e6),
        ("mEq/L", "mmol/L", None),  # Eq and mol are different dimensions: refused below
        ("tab.", "tablets", 1),
        ("units/kg", "IU/kg", 1),
        ("mCi", "MBq", 37),
    ],
)
def test_what_prescribers_write_still_reads(text, target, factor):
    if factor is None:
        with pytest.raises(UnitError):
            conversion_factor(text, target)
    else:
        assert conversion_factor(text, target) == pytest.approx(factor)


def test_every_word_the_reader_accepts_is_a_pint_unit():
    names = set(ALIASES.values()) | DEFINED | set(SYMBOLS.values())
    names |= {p + s for p in set(PREFIXES.values()) for s in set(SYMBOLS.values())}
    for name in sorted(names):
        assert not ureg.Quantity(1, ureg.Unit(name)).unitless or name == "dimensionless", name


def test_the_decision_is_memoised_per_distinct_string():
    read_unit_text("mg/kg")
    before = read_unit_text.cache_info().hits
    for _ in range(5):
        read_unit_text("mg/kg")
    assert read_unit_text.cache_info().hits == before + 5


def test_a_long_unit_is_refused_without_being_kept():
    before = read_unit_text.cache_info().currsize
    with pytest.raises(UnitError):
        parse_unit("mg" + " " * 100_000)
    assert read_unit_text.cache_info().currsize == before


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("mgkLu/*^-.0123456789 xµ²³⁹()eE+")), max_size=40))
def test_any_unit_text_gives_a_positive_finite_factor_or_unit_error(text):
    started = time.process_time()  # this process's CPU time: a busy machine does not make it flake
    try:
        factor = conversion_factor(text, "mg")
    except UnitError:
        return
    finally:
        assert time.process_time() - started < 0.5
    assert 0 < factor < float("inf")
