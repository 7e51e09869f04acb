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

from checker.http.fhir_dosage import (
    PER_ML,
    STRENGTH_UNITS,
    FhirError,
    Ingredient,
    array,
    codings,
    combine,
    dose,
    frequency_text,
    max_daily,
    number,
    prn,
    text,
    timing,
    ucum_unit,
)
from checker.http.fhir_observations import LOINC, LOINC_FIELDS, age_years, patient_fields
from formulary import load as load_formulary

__all__ = ["LOINC", "LOINC_FIELDS", "FhirError", "Ingredient", "MappedOrder", "age_years", "frequency_text",
           "timing", "ucum_unit"]  # fmt: skip

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"

# SNOMED CT route codes (descendants of 284009009 "Route of administration value").
SNOMED_ROUTES = {
    "26643006": "oral", "47625008": "iv", "34206005": "sc", "78421000": "im",
    "45890007": "transdermal", "46713006": "intranasal", "6064005": "topical",
    "12130007": "intra_articular", "37161004": "rectal", "37839007": "sublingual",
    "447694001": "inhaled", "54471007": "buccal", "72607000": "intrathecal", "404820008": "epidural",
}  # fmt: skip
# RxNorm dose-form words → route, used only when the order names no route.
_FORM_ROUTES = (
    ("transdermal", "transdermal"), ("nasal", "intranasal"), ("sublingual", "sublingual"),
    ("buccal", "buccal"), ("rectal", "rectal"), ("inhal", "inhaled"), ("topical", "topical"),
    ("oral", "oral"),
)  # fmt: skip

_UNIT_ALT = "|".join(sorted((re.escape(u) for u in (*STRENGTH_UNITS, *PER_ML)), key=len, reverse=True))
_INGREDIENT = re.compile(
    rf"^(?P<name>.*?\S)\s+(?P<value>\d{{1,9}}(?:\.\d{{1,6}})?)\s+(?P<unit>{_UNIT_ALT})(?=\s|$)", re.IGNORECASE
)
_PATCH_HOURS = re.compile(r"^\s*(\d{1,4})\s*HR\b", re.IGNORECASE)
_LEADING_QUANTITY = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*(HR|ML|ACTUAT|DAY)\s+", re.IGNORECASE)

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


_codings, _text = codings, text


# --- medication -----------------------------------------------------------------------------


def parse_clinical_drug(name: str) -> tuple[list[Ingredient], str]:
    """Ingredients and dose form of an RxNorm clinical drug name (SCD/SBD style).

    "72 HR Fentanyl 0.075 MG/HR Transdermal System" → [fentanyl 0.075 MG/HR], "Transdermal System";
    "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet" → two ingredients.
    Brand names in brackets ("[Tylenol]") are dropped.
    """
    text = " ".join(name[:1000].split())  # one space between words: the patterns stay linear
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
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
    """(rxcui, atc, best name, candidate names for the strength) from a CodeableConcept.

    A SNOMED CT code the formulary knows names its ingredient (or product): a text or display
    that says the same ingredients more exactly ("Tylenol 500 mg") is kept, anything else gives
    way to the code."""
    rxcui = atc = None
    names: list[str] = []
    snomed: list[str] = []
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
        elif system == SNOMED and code:
            snomed.append(code[:20])
            if display:
                names.append(display)
        elif display:
            names.append(display)
    if text := _text(concept.get("text")):
        names.insert(1 if names else 0, text)
    if not rxcui and (coded := _snomed_name(snomed, names)):
        names.insert(0, coded)
    if not (rxcui or atc or names):
        if snomed:
            raise FhirError(f"its SNOMED CT code {snomed[0]} is not one the checker knows, and it has no "
                            "RxNorm or ATC code and no name")  # fmt: skip
        raise FhirError("its medication has no RxNorm or ATC code and no name")
    return rxcui, atc, (names[0] if names else None), names


def _snomed_name(codes: list[str], names: list[str]) -> str | None:
    """The name to order by for a known SNOMED CT code, or None to keep the names as they are."""
    f = load_formulary()
    hit = next((r for r in map(f.by_snomed, codes) if r is not None), None)
    if hit is None:
        return None
    if hit.product is None:  # a name for the same ingredients may carry the strength the code lacks
        wanted = {d.id for d in hit.drugs}
        same = [(n, r) for n in names[:3]
                if (r := f.resolve(n)) is not None and {d.id for d in r.drugs} == wanted]  # fmt: skip
        if same:
            name = next((n for n, r in same if r.product is not None), same[0][0])
            return None if name == names[0] else name
    return hit.product.name if hit.product else hit.drugs[0].id


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
                return re.sub(r" route$", "", " ".join(display[:200].split()), flags=re.IGNORECASE)
    low = form.lower()
    return next((r for word, r in _FORM_ROUTES if word in low), None)


def medication_request(
    req: Any, index: int = 0, contained: dict[str, dict[str, Any]] | None = None
) -> MappedOrder:
    """Map one MedicationRequest to regimen medications. Raises FhirError when it cannot be read."""
    if not isinstance(req, dict) or req.get("resourceType") != "MedicationRequest":
        raise FhirError("is not a MedicationRequest")
    ref = reference(req, index)
    local = {f"#{r.get('id')}": r for r in array(req.get("contained"), "contained")}
    concept = _medication_concept(req, {**(contained or {}), **local})
    rxcui, atc, name, names = _drug_names(concept)
    ingredients: list[Any] = []
    form = ""
    for candidate in names:
        ingredients, form = parse_clinical_drug(candidate)
        if ingredients:
            break
    dosages = array(req.get("dosageInstruction"), "dosageInstruction") or [{}]
    label = name or rxcui or atc or ref
    per_dosage = [_dosage_meds(d, f"dosageInstruction[{i}]", ingredients, form, names)
                  for i, d in enumerate(dosages)]  # fmt: skip
    seqs = [_sequence(d, i) for i, d in enumerate(dosages)]
    if len(per_dosage) == 1:
        meds = per_dosage[0]
    else:
        meds = tuple(
            combine([(seq, m[j]) for seq, m in zip(seqs, per_dosage, strict=True)], "dosageInstruction")
            for j in range(len(per_dosage[0]))
        )
    if len(ingredients) > 1:
        return MappedOrder(ref, label, meds)
    med: dict[str, Any] = {"drug": ingredients[0].name if ingredients else name}
    if rxcui and re.fullmatch(r"\d{1,10}", rxcui):
        med["rxcui"] = rxcui
    if atc:
        med["atc"] = atc
    if not med["drug"]:
        del med["drug"]
    med.update({k: v for k, v in meds[0].items() if k != "drug"})
    return MappedOrder(ref, label, (med,))


def _sequence(dosage: dict[str, Any], i: int) -> int | None:
    seq = number(dosage.get("sequence"), f"dosageInstruction[{i}].sequence")
    return int(seq) if seq is not None else None


def _dosage_meds(dosage: dict[str, Any], where: str, ingredients: list[Ingredient], form: str,
                 names: list[str]) -> tuple[dict[str, Any], ...]:  # fmt: skip
    """One dosageInstruction as one medication per ingredient."""
    low, high, quantity = dose(dosage, where)
    common: dict[str, Any] = {**timing(dosage, where)}
    if r := route(dosage, form):
        common["route"] = r
    if (as_needed := prn(dosage)) is not None:
        common["prn"] = as_needed
    if "frequency" not in common and "transdermal" in form.lower():
        # A "72 HR" patch is changed every 72 h when the order gives no timing of its own.
        if m := next((_PATCH_HOURS.match(n) for n in names if _PATCH_HOURS.match(n)), None):
            common["frequency"] = f"every {m.group(1)} h"
    if len(ingredients) > 1:
        if quantity is not None and not ucum_unit(quantity)[1] and ucum_unit(quantity)[0] != "mL":
            raise FhirError("is a combination product dosed by amount, not by count; give tablets or mL")
        return tuple(_ingredient_med(ing, dosage, low, high, quantity, common, where) for ing in ingredients)
    only = ingredients[0] if ingredients else None
    return (_ingredient_med(only, dosage, low, high, quantity, common, where),)


def _ingredient_med(
    ing: Ingredient | None,
    dosage: dict[str, Any],
    low: float | None,
    high: float | None,
    quantity: dict[str, Any] | None,
    common: dict[str, Any],
    where: str,
) -> dict[str, Any]:
    """One ingredient's dose: a count dose times the strength, a mL dose times a per-mL strength."""
    med: dict[str, Any] = {"drug": ing.name} if ing else {}
    med.update(common)
    med.update(max_daily(dosage, ing, where))
    if high is None or quantity is None:
        if _text(dosage.get("text")):
            med["sig"] = dosage["text"][:500]
        return med
    unit, count = ucum_unit(quantity)
    if ing and count and ing.unit in STRENGTH_UNITS:
        unit, factor = STRENGTH_UNITS[ing.unit]
    elif ing and unit == "mL" and PER_ML.get(ing.unit):
        unit, factor = PER_ML[ing.unit]
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


def patient(prefetch: Any, patient_id: str | None = None, today: date | None = None) -> dict[str, Any]:
    """Patient fields from the prefetched Patient and Observations (the latest per field)."""
    return patient_and_refused(prefetch, patient_id, today)[0]


def patient_and_refused(
    prefetch: Any, patient_id: str | None = None, today: date | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The patient fields, and the fields whose latest value was refused (no unit, wrong unit).

    Every prefetch value is scanned, whatever its key, so a client's own key names still work.
    """
    return patient_fields(list(_prefetched(prefetch)), patient_id, today or date.today())


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
