"""Regimens generated from the knowledge itself, so every limit and rule gets a test that can fail."""

from __future__ import annotations

from typing import Any

from checker.quantities import num
from formulary import DoseLimit, Drug, When
from formulary import load as load_formulary

NEUTRAL: dict[str, Any] = {
    "age_years": 40,
    "weight_kg": 70,
    "sex": "male",
    "crcl_ml_min": 100,
    "hepatic_impairment": "none",
    "qtc_ms": 420,
    "serum_calcium": "9.5 mg/dL",
    "platelets": "250 10^9/L",
    "anc": "4 10^9/L",
    "hemoglobin": "13 g/dL",
    "opioid_tolerant": True,
    "dental_exam_done": True,
    "pregnant": False,
    "conditions": [],
}


def patient_for(when: When) -> dict[str, Any]:
    """A patient who falls under `when` and under nothing stricter than needed."""
    p = dict(NEUTRAL)
    if when.age_min is not None:
        p["age_years"] = when.age_min
    if when.age_over is not None:
        p["age_years"] = when.age_over + 1
    if when.age_below is not None:
        p["age_years"] = when.age_below - 4
    if when.weight_below is not None:
        p["weight_kg"] = when.weight_below - 5
    if when.weight_max_kg is not None:
        p["weight_kg"] = when.weight_max_kg
    if when.crcl_min is not None:
        p["crcl_ml_min"] = when.crcl_min
    elif when.crcl_over is not None:
        p["crcl_ml_min"] = when.crcl_over + 1
    elif when.crcl_below is not None:
        p["crcl_ml_min"] = when.crcl_below - 1
    elif when.crcl_max is not None:
        p["crcl_ml_min"] = when.crcl_max
    if when.hepatic:
        p["hepatic_impairment"] = when.hepatic[0]
    if when.conditions:
        p["conditions"] = [when.conditions[0]]
    if when.opioid_tolerant is not None:
        p["opioid_tolerant"] = when.opioid_tolerant
    if when.pregnant is not None:
        p["pregnant"] = when.pregnant
    if when.qtc_over is not None:
        p["qtc_ms"] = when.qtc_over + 10
    if when.qtc_min is not None:
        p["qtc_ms"] = when.qtc_min
    if when.albumin_known:
        p["albumin"] = "4 g/dL"
    if when.calcium_below is not None:
        p["serum_calcium"] = f"{when.calcium_below - 1} mg/dL"
    if when.calcium_over is not None:
        p["serum_calcium"] = f"{when.calcium_over + 1} mg/dL"
    if when.platelets_below is not None:
        p["platelets"] = f"{when.platelets_below / 2} 10^9/L"
    if when.anc_below is not None:
        p["anc"] = f"{when.anc_below / 2} 10^9/L"
    if when.hemoglobin_below is not None:
        p["hemoglobin"] = f"{when.hemoglobin_below - 1} g/dL"
    return p


# (limit attribute, finding code prefix)
LIMIT_KINDS = (
    ("max_single", "dose.single_max"),
    ("max_daily", "dose.daily_max"),
    ("min_interval_h", "dose.interval_min"),
    ("max_duration_days", "dose.duration_max"),
    ("course_max_doses", "dose.course_max"),
    ("max_single_per_kg", "dose.single_per_kg_max"),
    ("max_daily_per_kg", "dose.daily_per_kg_max"),
)


def limit_cases() -> list[tuple[str, Drug, DoseLimit, str, str]]:
    f = load_formulary()
    out = []
    for d in sorted(f.drugs.values(), key=lambda d: d.id):
        for i, lim in enumerate(d.limits):
            for attr, code in LIMIT_KINDS:
                if getattr(lim, attr) is None:
                    continue
                if attr == "max_single" and lim.single_upto is not None and lim.max_single >= lim.single_upto:
                    continue  # the row's band ends at its maximum: nothing in the band exceeds it
                out.append((f"{d.id}#{i}:{attr}", d, lim, attr, code))
    return out


def _single_cap(d: Drug, lim: DoseLimit) -> float:
    """The largest single dose that is still read as this row's regimen (band, salt weight)."""
    from rules.safety_data import safety

    caps = [lim.single_upto] if lim.single_upto is not None else []
    if (salt := safety().salts.get(d.id)) is not None:
        caps.append(salt.read_as_salt_above)
    return min(caps) if caps else float("inf")


_PER_DAY = ((1, "daily"), (2, "bid"), (3, "tid"), (4, "qid"), (6, "q4h"), (12, "q2h"), (24, "q1h"))


def _named(d: Drug, lim: DoseLimit) -> str:
    """The drug as ordered: its id, or for a row of one release type (or product line) a product of
    that release (line) and route (an order that does not say which is only asked about such a row)."""
    if lim.release is None:
        return d.id
    products = sorted(load_formulary().products.values(), key=lambda p: p.id)
    return next(p.name for p in products if p.drugs == (d.id,) and p.release == lim.release
                and p.route in lim.routes and (not lim.families or p.family in lim.families))  # fmt: skip


def medication_for(d: Drug, lim: DoseLimit, attr: str, factor: float) -> dict[str, Any]:
    """An order that puts `attr` at `factor` × its limit and keeps every other figure small."""
    route = lim.routes[0]
    unit = d.unit_for(route)
    value = getattr(lim, attr)
    base = lim.single_above * 1.01 if lim.single_above is not None else 1e-3
    med: dict[str, Any] = {"drug": _named(d, lim), "route": route, "unit": unit, "dose": base,
                           "frequency": "once"}  # fmt: skip
    if lim.dose_number_min is not None:
        med["dose_number"] = lim.dose_number_min
    match attr:
        case "max_single":
            med["dose"] = value * factor
        case "max_daily":
            cap = _single_cap(d, lim)
            n, freq = next(x for x in _PER_DAY if value * factor / x[0] <= cap or x[0] == 24)
            med.update(dose=value * factor / n, frequency=freq)
        case "min_interval_h":
            med["frequency"] = f"every {num(value / factor)} hours"
        case "max_duration_days":
            med["duration_days"] = value * factor
        case "course_max_doses":
            med["dose_number"] = int(value) + (1 if factor > 1 else 0)
        case "max_single_per_kg":
            med.update(dose=value * factor, unit=f"{unit}/kg")
        case "max_daily_per_kg":
            med.update(dose=value * factor, unit=f"{unit}/kg", frequency="daily")
    return med


def representative(selector, routes=(), exclude=()) -> list[str]:
    """Drug ids that a selector covers, in a stable order."""
    f = load_formulary()
    if selector.kind == "drug":
        return [selector.id]
    return [
        d.id
        for d in sorted(f.drugs.values(), key=lambda d: d.id)
        if selector.id in f.expand_classes(d.classes)
        and d.id not in exclude
        and (not routes or not d.routes or set(routes) & set(d.routes))  # no labelled route: any may be meant
    ]


def route_for(drug_id: str, routes: tuple[str, ...]) -> str:
    d = load_formulary().drugs[drug_id]
    for r in routes:
        if r in d.routes:
            return r
    if routes:  # a rule for a route the drug has no label row for (transmucosal fentanyl is "oral")
        return routes[0]
    return d.routes[0] if d.routes else "oral"
