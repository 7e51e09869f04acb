"""The regimen form: its fields (the contract's names) and the regimen dict built from a post.

Numbers typed into the form arrive as text; they are converted here when they read as numbers
and otherwise passed on as typed, so the library's schema rejects them with its own message
against the field's own name. Empty fields are left out: every patient field is optional and
"not given" must stay distinguishable from a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from checker.web.lines import MAX_LINES, Line, split_lines, structured
from formulary import load

NUMBER_FIELDS = (
    ("age_years", "Age", "years"),
    ("weight_kg", "Weight", "kg"),
    ("crcl_ml_min", "Creatinine clearance (CrCl)", "mL/min"),
    ("egfr", "eGFR", "mL/min/1.73 m²"),
    ("qtc_ms", "QTc", "ms"),
)
LAB_FIELDS = (
    ("serum_creatinine", "Serum creatinine", "1.6 mg/dL or 141 umol/L"),
    ("serum_calcium", "Serum calcium", "9.0 mg/dL or 2.25 mmol/L"),
    ("platelets", "Platelets", "140 10^9/L"),
    ("anc", "Absolute neutrophil count", "2.1 10^9/L"),
    ("hemoglobin", "Hemoglobin", "11.2 g/dL"),
)
YES_NO_FIELDS = (
    ("opioid_tolerant", "Opioid tolerant"),
    ("dental_exam_done", "Dental examination done"),
    ("pregnant", "Pregnant"),
)
SEX_CHOICES = (("", "Not given"), ("female", "Female"), ("male", "Male"), ("unknown", "Unknown"))
HEPATIC_CHOICES = (
    ("", "Not given"),
    ("none", "None"),
    ("mild", "Mild (Child-Pugh A)"),
    ("moderate", "Moderate (Child-Pugh B)"),
    ("severe", "Severe (Child-Pugh C)"),
)
YES_NO_CHOICES = (("", "Not known"), ("yes", "Yes"), ("no", "No"))
STRUCTURED_ROWS = 3
STRUCTURED_FIELDS = (
    ("drug", "Drug"),
    ("dose", "Dose"),
    ("unit", "Unit"),
    ("route", "Route"),
    ("frequency", "Frequency"),
)
EXAMPLE = "Percocet 5/325 1-2 tabs PO q4-6h PRN pain\nzoledronic acid 4 mg IV q4 weeks"


def conditions() -> list[str]:
    """The conditions the knowledge understands, for the check boxes."""
    return sorted(set(load().conditions.values()))


@dataclass
class Posted:
    """A posted form: what was typed (to show it again), the lines, and the regimen to check."""

    values: MultiDict
    lines: list[Line]
    regimen: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)


def _number(text: str) -> float | str:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def patient_from(form: MultiDict) -> dict[str, Any]:
    patient: dict[str, Any] = {}
    for name, _label, _unit in NUMBER_FIELDS:
        if text := form.get(name, "").strip():
            patient[name] = _number(text)
    for name, _label, _hint in LAB_FIELDS:
        if text := form.get(name, "").strip():
            patient[name] = text
    for name in ("sex", "hepatic_impairment"):
        if text := form.get(name, "").strip():
            patient[name] = text
    for name, _label in YES_NO_FIELDS:
        answer = form.get(name, "")
        if answer in ("yes", "no"):
            patient[name] = answer == "yes"
    if chosen := [c for c in form.getlist("conditions") if c.strip()]:
        patient["conditions"] = chosen
    return patient


def structured_rows(form: MultiDict) -> list[Line]:
    """The optional field-by-field orders: `rows-N-drug`, `rows-N-dose`, … `rows-N-prn`."""
    out = []
    for i in range(STRUCTURED_ROWS):
        drug = form.get(f"rows-{i}-drug", "").strip()
        if not drug:
            continue
        fields: dict[str, Any] = {}
        for name, _label in STRUCTURED_FIELDS[1:]:
            if text := form.get(f"rows-{i}-{name}", "").strip():
                fields[name] = _number(text) if name == "dose" else text
        if form.get(f"rows-{i}-prn") == "yes":
            fields["prn"] = True
        out.append(structured(i + 1, drug, fields))
    return out


def structured_given(form: MultiDict) -> bool:
    return any(form.get(f"rows-{i}-drug", "").strip() for i in range(STRUCTURED_ROWS))


def read_form(form: MultiDict) -> Posted:
    lines = split_lines(form.get("medications", "")) + structured_rows(form)
    errors: dict[str, list[str]] = {}
    if not lines:
        errors["medications"] = ["Type at least one order, one per line (or fill in a row)."]
    elif len(lines) > MAX_LINES:
        errors["medications"] = [f"At most {MAX_LINES} orders at a time; this list has {len(lines)}."]
    regimen = {"patient": patient_from(form), "medications": [ln.medication() for ln in lines]}
    return Posted(form, lines, regimen, errors)


def field_of(path: str, lines: list[Line]) -> str:
    """Where a schema error belongs on the page: "patient.age_years" → "age_years";
    "medications.2.dose" → "medications" (the message names the line)."""
    parts = path.split(".")
    if parts[0] == "patient" and len(parts) > 1:
        return parts[1]
    return "medications" if parts[0] == "medications" else "form"


def place_errors(errors: dict[str, list[str]], lines: list[Line]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        parts = path.split(".")
        where = field_of(path, lines)
        if where == "medications" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(lines):
            line = lines[int(parts[1])]
            what = f" ({parts[2]})" if len(parts) > 2 else ""
            messages = [f"{line.label}{what}: {m}" for m in messages]
        out.setdefault(where, []).extend(messages)
    return out
