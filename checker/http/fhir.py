"""FHIR R4 → regimen: MedicationRequests become medication dicts, prefetch becomes a patient dict.

Pure functions (no Flask, no I/O) so the CDS Hooks service, tests and other adapters share
them. Where an order says less than the checker needs, the mapping passes on what it has and
lets the engine report the gap; where it is not a MedicationRequest we can read at all, it
raises `FhirError` with a reason the card can show.

The dose rules follow the CDC opioid MME CQL (cqframework/opioid-mme-r4): one dosageInstruction,
the "ordered" doseAndRate, doseQuantity or the high end of doseRange, frequencyMax over
frequency ("assume the most aggressive dosing"), and for a count dose (tablets, patches) the
strength taken from the RxNorm clinical drug name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

# SNOMED CT route codes (descendants of 284009009 "Route of administration value").
SNOMED_ROUTES = {
    "26643006": "oral", "47625008": "iv", "34206005": "sc", "78421000": "im",
    "45890007": "transdermal", "46713006": "intranasal", "6064005": "topical",
    "12130007": "intra_articular", "37161004": "rectal", "37839007": "sublingual",
    "447694001": "inhaled", "54471007": "buccal",
}  # fmt: skip
# RxNorm dose-form words → route, used only when the order names no route.
_FORM_ROUTES = (
    ("transdermal", "transdermal"), ("nasal", "intranasal"), ("sublingual", "sublingual"),
    ("buccal", "buccal"), ("rectal", "rectal"), ("inhal", "inhaled"), ("topical", "topical"),
    ("oral", "oral"),
)  # fmt: skip

# Hours in one FHIR units-of-time unit (mo = 30 d and a = 365 d, as the CDC MME CQL counts).
PERIOD_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 720.0, "a": 8760.0}
_DURATION_UNITS = {"s": "s", "sec": "s", "min": "min", "h": "h", "hr": "h", "hour": "h", "hours": "h",
                   "d": "d", "day": "d", "days": "d", "wk": "wk", "week": "wk", "weeks": "wk",
                   "mo": "mo", "month": "mo", "months": "mo", "a": "a", "year": "a",
                   "years": "a"}  # fmt: skip

# RxNorm strength units → our units. MG/HR strengths become ug/h, the unit patches are written in.
_STRENGTH_UNITS = {"MG": ("mg", 1.0), "MCG": ("ug", 1.0), "UG": ("ug", 1.0), "G": ("g", 1.0),
                   "UNT": ("IU", 1.0), "IU": ("IU", 1.0), "MEQ": ("mEq", 1.0), "MMOL": ("mmol", 1.0),
                   "KBQ": ("kBq", 1.0), "MBQ": ("MBq", 1.0), "MCI": ("mCi", 1.0),
                   "MG/HR": ("ug/h", 1000.0), "MCG/HR": ("ug/h", 1.0), "MG/ACTUAT": ("mg", 1.0),
                   "MCG/ACTUAT": ("ug", 1.0), "UNT/ACTUAT": ("IU", 1.0)}  # fmt: skip
_PER_ML: dict[str, tuple[str, float]] = {
    "MG/ML": ("mg", 1.0), "MCG/ML": ("ug", 1.0), "UNT/ML": ("IU", 1.0), "MEQ/ML": ("mEq", 1.0),
    "KBQ/ML": ("kBq", 1.0), "MBQ/ML": ("MBq", 1.0),
}  # fmt: skip
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in (*_STRENGTH_UNITS, *_PER_ML)), key=len, reverse=True))
_INGREDIENT = re.compile(rf"^(?P<name>.*?\S)\s+(?P<value>\d+(?:\.\d+)?)\s+(?P<unit>{_UNIT_ALT})(?=\s|$)",
                         re.IGNORECASE)  # fmt: skip
_PATCH_HOURS = re.compile(r"^\s*(\d+)\s*HR\b", re.IGNORECASE)
_LEADING_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(HR|ML|ACTUAT|DAY)\s+", re.IGNORECASE)
_COUNT_WORDS = {"tablet", "tablets", "tab", "tabs", "tbl", "capsule", "capsules", "cap", "caps",
                "patch", "patches", "each", "ea", "unit_dose", "dose", "doses", "actuat",
                "actuation", "actuations", "puff", "puffs", "spray", "sprays", "drop", "drops",
                "drp", "lozenge", "film", "suppository", "applicator", "1", ""}  # fmt: skip
_UNIT_WORDS = {"[iu]": "IU", "[iu]/kg": "IU/kg", "[iu]/d": "IU/d", "mcg": "ug", "ml": "mL",
               "[drp]": "drop", "ug/h": "ug/h", "ug/hr": "ug/h", "mcg/h": "ug/h",
               "mcg/hr": "ug/h"}  # fmt: skip

# LOINC codes read from prefetch Observations → patient field, and how the value is passed on.
LOINC_FIELDS: dict[str, tuple[str, str]] = {
    "29463-7": ("weight_kg", "kg"), "3141-9": ("weight_kg", "kg"),
    "2160-0": ("serum_creatinine", "lab"), "14682-9": ("serum_creatinine", "lab"),
    "2164-2": ("crcl_ml_min", "number"),
    "33914-3": ("egfr", "number"), "62238-1": ("egfr", "number"), "98979-8": ("egfr", "number"),
    "48642-3": ("egfr", "number"), "48643-1": ("egfr", "number"),
    "17861-6": ("serum_calcium", "lab"), "2000-8": ("serum_calcium", "lab"),
    "777-3": ("platelets", "lab"), "26515-7": ("platelets", "lab"),
    "751-8": ("anc", "lab"), "718-7": ("hemoglobin", "lab"), "1751-7": ("albumin", "lab"),
    "8636-3": ("qtc_ms", "number"),
}  # fmt: skip
_COUNT_PER_VOLUME = {"10*3/ul": "10^9/L", "10*9/l": "10^9/L", "10^3/ul": "10^9/L", "k/ul": "10^9/L",
                     "10^9/l": "10^9/L", "/nl": "10^9/L"}  # fmt: skip
_MASS_TO_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237}


class FhirError(ValueError):
    """A resource the mapping cannot read; the message is shown to the clinician."""


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str
    value: float
    unit: str  # RxNorm strength unit, upper case: MG, MG/HR, MG/ML ...


@dataclass(frozen=True, slots=True)
class MappedOrder:
    """One MedicationRequest as regimen medications (several for a combination product)."""

    ref: str  # "MedicationRequest/<id>"
    label: str  # what the order is called, for cards
    medications: tuple[dict[str, Any], ...]


# --- resources ---------------------------------------------------------------------------------


def bundle_resources(bundle: Any) -> list[dict[str, Any]]:
    """The resources of a Bundle, or the resource itself when it is not a Bundle."""
    if not isinstance(bundle, dict):
        return []
    if bundle.get("resourceType") != "Bundle":
        return [bundle] if bundle.get("resourceType") else []
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def reference(resource: dict[str, Any], index: int) -> str:
    """ "MedicationRequest/<id>", or "MedicationRequest/#<position>" for a resource with no id."""
    rid = resource.get("id")
    rid = rid if isinstance(rid, str) and rid else f"#{index}"
    return f"{resource.get('resourceType', 'Resource')}/{rid}"


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    return [c for c in concept["coding"] if isinstance(c, dict)]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- medication -----------------------------------------------------------------------------


def parse_clinical_drug(name: str) -> tuple[list[Ingredient], str]:
    """Ingredients and dose form of an RxNorm clinical drug name (SCD/SBD style).

    "72 HR Fentanyl 0.075 MG/HR Transdermal System" → [fentanyl 0.075 MG/HR], "Transdermal System";
    "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet" → two ingredients.
    Brand names in brackets ("[Tylenol]") are dropped.
    """
    text = re.sub(r"\[[^\]]*\]", " ", name)
    text = _LEADING_QUANTITY.sub("", text).strip()
    parts = [p.strip() for p in re.split(r"\s+/\s+", text)]
    found: list[Ingredient] = []
    form = ""
    for i, part in enumerate(parts):
        m = _INGREDIENT.match(part)
        if not m:
            return [], ""
        found.append(Ingredient(m["name"].strip(), float(m["value"]), m["unit"].upper()))
        if i == len(parts) - 1:
            form = part[m.end() :].strip()
    return found, form


def _medication_concept(req: dict[str, Any], contained: dict[str, dict[str, Any]]) -> dict[str, Any]:
    concept = req.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    ref = req.get("medicationReference")
    if isinstance(ref, dict):
        target = contained.get(str(ref.get("reference", "")))
        if target and isinstance(target.get("code"), dict):
            return target["code"]
        if _text(ref.get("display")):
            return {"text": ref["display"]}
    raise FhirError("names no medication (medicationCodeableConcept or a resolvable medicationReference)")


def _drug_names(concept: dict[str, Any]) -> tuple[str | None, str | None, str | None, list[str]]:
    """(rxcui, atc, best name, candidate names for the strength) from a CodeableConcept."""
    rxcui = atc = None
    names: list[str] = []
    for c in _codings(concept):
        system, code, display = c.get("system"), _text(c.get("code")), _text(c.get("display"))
        if system == RXNORM:
            rxcui = rxcui or code
            if display:
                names.insert(0, display)
        elif system == ATC:
            atc = atc or code
            if display:
                names.append(display)
        elif display:
            names.append(display)
    if text := _text(concept.get("text")):
        names.insert(1 if names else 0, text)
    if not (rxcui or atc or names):
        raise FhirError("its medication has no RxNorm or ATC code and no name")
    return rxcui, atc, (names[0] if names else None), names


def ucum_unit(quantity: dict[str, Any]) -> tuple[str, bool]:
    """(unit for the checker, is a count) of a FHIR Quantity; UCUM code first, then its unit text.

    UCUM quirks handled: `[iU]`/`[IU]` are IU, `{…}` annotations are counts (`{patch}`, `{tbl}`),
    `mcg` is not UCUM but is what people send for micrograms.
    """
    code = _text(quantity.get("code")) or _text(quantity.get("unit")) or ""
    low = code.lower()
    if low in _UNIT_WORDS:
        return _UNIT_WORDS[low], False
    stripped = re.sub(r"\{[^}]*\}", "", code).strip()
    if stripped in ("", "1") or re.sub(r"\(s\)$", "", low) in _COUNT_WORDS:
        return "tablet", True
    unit = re.sub(r"\[i?u\]", "IU", stripped, flags=re.IGNORECASE)
    return unit, False


def _dose(dosage: dict[str, Any]) -> tuple[float | None, float | None, dict[str, Any] | None]:
    """(low, high, quantity carrying the unit) from the ordered doseAndRate, else the first."""
    rates = [d for d in dosage.get("doseAndRate") or [] if isinstance(d, dict)]
    if not rates:
        return None, None, None
    ordered = [
        d for d in rates if not d.get("type") or any(c.get("code") == "ordered" for c in _codings(d["type"]))
    ]
    chosen = (ordered or rates)[0]
    if isinstance(q := chosen.get("doseQuantity"), dict):
        return None, _number(q.get("value")), q
    if isinstance(r := chosen.get("doseRange"), dict):
        high, low = r.get("high") or {}, r.get("low") or {}
        if isinstance(high, dict) and _number(high.get("value")) is not None:
            lo = _number(low.get("value")) if isinstance(low, dict) else None
            same = isinstance(low, dict) and ucum_unit(low) == ucum_unit(high)
            return (lo if same else None), _number(high["value"]), high
        if isinstance(low, dict):
            return None, _number(low.get("value")), low
    if isinstance(q := chosen.get("rateQuantity"), dict):
        return None, _number(q.get("value")), q
    return None, None, None


def _amount(value: float, ing: Ingredient) -> tuple[float, str] | None:
    """A count of units (tablets, patches, actuations) times the strength of one."""
    if ing.unit in _STRENGTH_UNITS:
        unit, factor = _STRENGTH_UNITS[ing.unit]
        return value * ing.value * factor, unit
    return None


def _hours(value: Any, unit: Any) -> float | None:
    v = _number(value)
    u = _DURATION_UNITS.get(str(unit).lower()) if unit else None
    return v * PERIOD_HOURS[u] if v is not None and u else None


def frequency_text(interval_h: float, period_unit: str = "h") -> str:
    """An interval in words the engine's frequency parser reads ("q6h", "q72h", "every 4 weeks").

    Written in the order's own period unit where it divides evenly, so a 72-hour patch reads
    "q72h" and a 4-weekly infusion "every 4 weeks".
    """

    def whole(x: float) -> bool:
        return abs(x - round(x)) < 1e-9

    coarse = ((168.0, "weeks"), (24.0, "days")) if period_unit in ("wk", "mo", "a") else ((24.0, "days"),)
    for hours, name in coarse if period_unit not in ("h", "min", "s") else ():
        if interval_h >= hours and whole(interval_h / hours):
            n = round(interval_h / hours)
            return f"every {n} {name}" if n > 1 else {"weeks": "weekly", "days": "daily"}[name]
    if interval_h >= 1 and whole(interval_h):
        return f"q{round(interval_h)}h"
    if whole(interval_h * 60):
        return f"every {round(interval_h * 60)} min"
    return f"every {interval_h:.4g} h"


def timing(dosage: dict[str, Any]) -> dict[str, Any]:
    """frequency / duration_days from Timing. The shortest interval the order allows is kept."""
    t = dosage.get("timing")
    if not isinstance(t, dict):
        return {}
    rep = t.get("repeat") if isinstance(t.get("repeat"), dict) else {}
    out: dict[str, Any] = {}
    freq = _number(rep.get("frequencyMax")) or _number(rep.get("frequency"))
    if freq is None and isinstance(rep.get("timeOfDay"), list) and rep["timeOfDay"]:
        freq = float(len(rep["timeOfDay"]))
    period_h = _hours(rep.get("period"), rep.get("periodUnit"))
    interval = None
    if freq and freq > 0:
        interval = (period_h if period_h else 24.0) / freq
        out["frequency"] = frequency_text(interval, str(rep.get("periodUnit") or "d"))
    elif (count := _number(rep.get("count"))) == 1:
        out["frequency"] = "once"
    elif t.get("code"):
        code = _codings(t["code"])
        word = _text(code[0].get("code")) if code else None
        if word := (word or _text(t["code"].get("text"))):
            out["frequency"] = word.lower()
    if isinstance(b := rep.get("boundsDuration"), dict):
        hours = _hours(b.get("value"), b.get("code") or b.get("unit"))
        if hours:
            out["duration_days"] = hours / 24.0
    elif (count := _number(rep.get("count"))) and count > 1 and interval:
        out["duration_days"] = count * interval / 24.0
    return out


def route(dosage: dict[str, Any], form: str) -> str | None:
    """Route from the SNOMED CT code, then the text, then the dose form in the drug's name."""
    concept = dosage.get("route")
    if isinstance(concept, dict):
        for c in _codings(concept):
            if c.get("system") == SNOMED and str(c.get("code")) in SNOMED_ROUTES:
                return SNOMED_ROUTES[str(c["code"])]
        if text := _text(concept.get("text")):
            return text
        for c in _codings(concept):
            if display := _text(c.get("display")):
                return re.sub(r"\s+route$", "", display, flags=re.IGNORECASE)
    low = form.lower()
    return next((r for word, r in _FORM_ROUTES if word in low), None)


def _max_daily(dosage: dict[str, Any], strength: Ingredient | None) -> dict[str, Any]:
    ratios = dosage.get("maxDosePerPeriod")
    ratio = ratios[0] if isinstance(ratios, list) and ratios else ratios
    if not isinstance(ratio, dict):
        return {}
    num, den = ratio.get("numerator"), ratio.get("denominator")
    if not (isinstance(num, dict) and isinstance(den, dict)):
        return {}
    value = _number(num.get("value"))
    hours = _hours(den.get("value"), den.get("code") or den.get("unit"))
    if not value or not hours:
        return {}
    unit, count = ucum_unit(num)
    if count and strength and (amt := _amount(value, strength)):
        value, unit = amt
    elif count:
        return {}
    return {"max_daily_dose": value * 24.0 / hours, "max_daily_unit": unit}


def medication_request(
    req: Any, index: int = 0, contained: dict[str, dict[str, Any]] | None = None
) -> MappedOrder:
    """Map one MedicationRequest to regimen medications. Raises FhirError when it cannot be read."""
    if not isinstance(req, dict) or req.get("resourceType") != "MedicationRequest":
        raise FhirError("is not a MedicationRequest")
    ref = reference(req, index)
    local = {f"#{r.get('id')}": r for r in req.get("contained") or [] if isinstance(r, dict)}
    concept = _medication_concept(req, {**(contained or {}), **local})
    rxcui, atc, name, names = _drug_names(concept)
    ingredients, form = [], ""
    for candidate in names:
        ingredients, form = parse_clinical_drug(candidate)
        if ingredients:
            break
    dosages = [d for d in req.get("dosageInstruction") or [] if isinstance(d, dict)]
    dosage = dosages[0] if dosages else {}
    low, high, quantity = _dose(dosage)
    common: dict[str, Any] = {**timing(dosage)}
    if r := route(dosage, form):
        common["route"] = r
    if isinstance(dosage.get("asNeededBoolean"), bool):
        common["prn"] = dosage["asNeededBoolean"]
    elif isinstance(dosage.get("asNeededCodeableConcept"), dict):
        common["prn"] = True
    if "frequency" not in common and "transdermal" in form.lower():
        # A "72 HR" patch is changed every 72 h when the order gives no timing of its own.
        if m := next((_PATCH_HOURS.match(n) for n in names if _PATCH_HOURS.match(n)), None):
            common["frequency"] = f"every {m.group(1)} h"
    label = name or rxcui or atc or ref
    if len(ingredients) > 1:
        if quantity is not None and not ucum_unit(quantity)[1]:
            raise FhirError("is a combination product dosed by amount, not by count; give tablets or mL")
        meds = tuple(_ingredient_med(ing, dosage, low, high, quantity, common) for ing in ingredients)
        return MappedOrder(ref, label, meds)
    med: dict[str, Any] = {"drug": ingredients[0].name if ingredients else name}
    if rxcui and re.fullmatch(r"\d{1,10}", rxcui):
        med["rxcui"] = rxcui
    if atc:
        med["atc"] = atc
    if not med["drug"]:
        del med["drug"]
    med.update(_ingredient_med(ingredients[0] if ingredients else None, dosage, low, high, quantity, common))
    return MappedOrder(ref, label, (med,))


def _ingredient_med(ing: Ingredient | None, dosage: dict[str, Any], low: float | None, high: float | None,
                    quantity: dict[str, Any] | None, common: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """One ingredient's dose: a count dose times the strength, a mL dose times a per-mL strength."""
    med: dict[str, Any] = {"drug": ing.name} if ing else {}
    med.update(common)
    med.update(_max_daily(dosage, ing))
    if high is None or quantity is None:
        if _text(dosage.get("text")):
            med["sig"] = dosage["text"][:500]
        return med
    unit, count = ucum_unit(quantity)
    if ing and count and ing.unit in _STRENGTH_UNITS:
        unit, factor = _STRENGTH_UNITS[ing.unit]
    elif ing and unit == "mL" and _PER_ML.get(ing.unit):
        unit, factor = _PER_ML[ing.unit]
    else:
        factor = None
    if factor is not None and ing is not None:
        high = high * ing.value * factor
        low = low * ing.value * factor if low is not None else None
    med["dose"] = f"{low:g}-{high:g}" if low is not None and low <= high else high
    med["unit"] = unit
    return med


def draft_orders(bundle: Any) -> Iterator[MappedOrder | tuple[str, str]]:
    """Each MedicationRequest of a Bundle: a MappedOrder, or (reference, reason) when unreadable.

    Resources of other types (ServiceRequest, NutritionOrder …) are not ours to check: skipped.
    """
    resources = bundle_resources(bundle)
    contained = {f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"}
    for i, res in enumerate(resources):
        if res.get("resourceType") != "MedicationRequest":
            continue
        if res.get("status") in ("entered-in-error", "cancelled"):
            continue
        try:
            yield medication_request(res, i, contained)
        except FhirError as exc:
            yield reference(res, i), str(exc)


# --- patient ------------------------------------------------------------------------------------


def age_years(birth_date: str, today: date) -> float | None:
    """Completed years; a birthDate of year or year-month only is taken at its middle."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", birth_date.strip())
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2] or 7), int(m[3] or (15 if m[2] else 1))
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return float(years) if years >= 0 else None


def _observation_time(obs: dict[str, Any]) -> str:
    period = obs.get("effectivePeriod") if isinstance(obs.get("effectivePeriod"), dict) else {}
    for value in (obs.get("effectiveDateTime"), obs.get("effectiveInstant"), period.get("end"),
                  period.get("start"), obs.get("issued")):  # fmt: skip
        if isinstance(value, str):
            return value
    return ""


def _observation_value(obs: dict[str, Any], kind: str) -> Any:
    q = obs.get("valueQuantity")
    if not isinstance(q, dict) or (value := _number(q.get("value"))) is None:
        return None
    code = (_text(q.get("code")) or _text(q.get("unit")) or "").strip()
    if kind == "number":
        return value
    if kind == "kg":
        factor = _MASS_TO_KG.get(code.lower(), 1.0 if not code else None)
        return value * factor if factor is not None else None
    unit = _COUNT_PER_VOLUME.get(code.lower(), code)
    return f"{value:g} {unit}".strip()


def patient(prefetch: Any, patient_id: str | None = None, today: date | None = None) -> dict[str, Any]:
    """Patient fields from the prefetched Patient and Observations (the latest per field).

    Every prefetch value is scanned, whatever its key, so a client's own key names still work.
    """
    today = today or date.today()
    out: dict[str, Any] = {"id": patient_id} if patient_id else {}
    latest: dict[str, tuple[str, Any]] = {}
    for res in _prefetched(prefetch):
        kind = res.get("resourceType")
        if kind == "Patient":
            birth = res.get("birthDate")
            if isinstance(birth, str) and (age := age_years(birth, today)) is not None:
                out["age_years"] = age
            if res.get("gender") in ("male", "female", "other", "unknown"):
                out["sex"] = res["gender"]
        elif kind == "Observation" and res.get("status") not in ("entered-in-error", "cancelled"):
            for c in _codings(res.get("code")):
                if c.get("system") == LOINC and (spec := LOINC_FIELDS.get(str(c.get("code")))):
                    value = _observation_value(res, spec[1])
                    when = _observation_time(res)
                    if value is not None and (spec[0] not in latest or when > latest[spec[0]][0]):
                        latest[spec[0]] = (when, value)
                    break
    out.update({field: value for field, (_, value) in latest.items()})
    return out


def _prefetched(prefetch: Any) -> Iterable[dict[str, Any]]:
    if not isinstance(prefetch, dict):
        return
    for value in prefetch.values():
        yield from bundle_resources(value)


def active_medications(prefetch: Any) -> list[dict[str, Any]]:
    """Active MedicationRequests the client prefetched: checked with the drafts for interactions."""
    return [r for r in _prefetched(prefetch)
            if r.get("resourceType") == "MedicationRequest"
            and r.get("status", "active") == "active"]  # fmt: skip
