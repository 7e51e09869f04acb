"""The regimen schema's fields: each reads one value the way people write it, or names the problem.

Every field here is bounded before it does any work: text has a length limit (and must be text
that can be written out again: no lone UTF-16 surrogates), numbers must be finite floats (a
401-digit integer is refused, not overflowed), lists are counted before their items are read.
So validation costs at most a few microseconds per field whatever a client sends.
"""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import ValidationError, fields, validate

from checker.labs import MAX_LAB_LENGTH, parse_lab, split_value
from checker.quantities import decimal_commas
from formulary.units import UnitError, conversion_factor, parse_unit

NOT_KNOWN = frozenset({"u", "unk", "unknown", "not known", "not recorded", "nk", "none recorded"})


def readable(text: str) -> bool:
    """False for text holding a lone UTF-16 surrogate (JSON allows "\\ud800"; UTF-8 does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Text(fields.String):
    """A string of at most `maximum` characters that can be written out as UTF-8."""

    def __init__(self, maximum: int, minimum: int = 1, **kw: Any):
        self.maximum = maximum
        validators = [validate.Length(min=minimum, max=maximum), *_as_list(kw.pop("validate", None))]
        super().__init__(validate=validators, **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str) and len(value) > self.maximum:  # before any other work on it
            raise ValidationError(f"Longer than maximum length {self.maximum}.")
        out = super()._deserialize(value, attr, data, **kwargs)
        if not readable(out):
            raise ValidationError("Not valid Unicode text (a lone surrogate).")
        return out


class UnitText(Text):
    """A dose unit as order-entry systems write it, made plain: "tablet(s)" is tablets and "mg/dose"
    is mg (every dose is per dose). Left as written, the plural marker and the redundant "per dose"
    made the unit unreadable and the dose unchecked."""

    _PLURAL = re.compile(r"\(s\)$", re.IGNORECASE)
    _PER_DOSE = re.compile(r" ?(?:/|per) ?dose$", re.IGNORECASE)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        out = super()._deserialize(value, attr, data, **kwargs).strip()
        return self._PER_DOSE.sub("", self._PLURAL.sub("s", out)) or out


def _as_list(v: Any) -> list[Any]:
    return [] if v is None else list(v) if isinstance(v, list | tuple) else [v]


def finite(value: Any) -> float:
    """A JSON number (or numeric text) as a finite float; ValidationError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError("Not a valid number.")
    if isinstance(value, str) and len(value) > 40:
        raise ValidationError("Not a valid number (too long).")
    try:
        out = float(value)
    except (OverflowError, ValueError):  # 10**400; "abc"
        raise ValidationError("Not a valid number (too large or not a number).") from None
    if not math.isfinite(out):
        raise ValidationError("Not a finite number.")
    return out


class FiniteFloat(fields.Float):
    """A finite float: refuses NaN, the infinities, booleans and integers too large for a float."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        return finite(value)


class MeasureField(FiniteFloat):
    """A number in the unit the field's name gives, or text with a unit of the same kind ("70 kg",
    "154 lb", "45 mL/min", "41 mL/min/1.73m2"), converted to that unit. EHR exports and patient
    files write the unit beside the value; "154 lb" read as 154 kg (or refused, and the weight
    then unknown) would misjudge every per-kg dose. A unit of another kind is refused by name."""

    def __init__(self, unit: str, **kwargs: Any):
        self.unit = unit
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str) and len(value) <= MAX_LAB_LENGTH and (parts := split_value(value)):
            number, unit = parts
            unit = measure_unit(unit)
            if unit:
                return number * unit_factor(unit, self.unit)
        return finite(value)


_PER_BSA = re.compile(r"\s*/\s*[\[{]?1\.73[._ ]?\s*m(?:2|²|\^2)[\]}]?\s*$", re.IGNORECASE)


def measure_unit(text: str) -> str:
    """A unit as people and FHIR write it, for the unit reader: eGFR's "/1.73 m²" (UCUM
    "/{1.73_m2}") names the scale, not a unit; UCUM's "[lb_av]" is "lb"; "mL/24h" is "mL/d"."""
    t = _PER_BSA.sub("", text.strip())
    t = re.sub(r"\[(\w+?)_av\]", r"\1", t)
    t = _YEARS_OLD.sub("year", t)  # "81 y/o", "81 years old"
    return t.replace("24h", "d").strip()


_YEARS_OLD = re.compile(r"^(?:y/o|y\.o\.?|yo|(?:years?|yrs?) old)$", re.IGNORECASE)


def unit_factor(unit: str, canonical: str) -> float:
    """The factor from `unit` to `canonical` through the one pint registry; a ValidationError that
    says whether the unit is unknown or of another kind (patient fields here, FHIR Observations)."""
    try:
        parse_unit(unit)
    except UnitError:
        msg = f"{unit!r} is not a unit medcheck reads; give a number in {canonical}."
        raise ValidationError(msg) from None
    try:
        return conversion_factor(unit, canonical)
    except UnitError:
        msg = f"{unit!r} is not a unit of {canonical}'s kind; give e.g. '70 {canonical}'."
        raise ValidationError(msg) from None


class Count(fields.Integer):
    """A whole number (JSON integer), refused rather than overflowed when it is huge."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Not a valid integer.")
        if abs(value) > 10**9:
            raise ValidationError("Integer out of range.")
        return value


class BoundedList(fields.List):
    """A list refused by its length before its items are read (a million conditions cost nothing)."""

    def __init__(self, inner: Any, maximum: int, **kw: Any):
        self.maximum = maximum
        super().__init__(inner, validate=validate.Length(max=maximum), **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, list | tuple) and len(value) > self.maximum:
            raise ValidationError(f"At most {self.maximum} items.")
        return super()._deserialize(value, attr, data, **kwargs)


class BoundedDate(fields.Date):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or len(value) > 40 or not readable(value):
            raise ValidationError("Not a valid date (YYYY-MM-DD).")
        return super()._deserialize(value, attr, data, **kwargs)


_RANGE_DASHES = ("-", "–", "—", "to")
MAX_DOSE_TEXT = 40


class DoseField(fields.Field):
    """A dose: a positive finite number, or a range string "5-15" whose top is checked."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[float | None, float]:  # noqa: E501
        if isinstance(value, str) and len(value) <= MAX_DOSE_TEXT:
            low, high = _dose_text(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            low, high = None, finite(value)
        else:
            raise ValidationError("Dose must be a number or a range like '5-15'.")
        if high <= 0 or (low is not None and low < 0):
            raise ValidationError("Dose must be a positive finite number.")
        if low is not None and low > high:
            raise ValidationError("Range must be low-high, e.g. '5-15'.")
        return low, high


def _dose_text(value: str) -> tuple[float | None, float]:
    text = decimal_commas(value.strip())
    for dash in _RANGE_DASHES:
        left, sep, right = text.partition(dash)
        if sep and left.strip() and right.strip():
            return _plain(left), _plain(right)
    return None, _plain(text)


def _plain(text: str) -> float:
    """A plain decimal ("12", "0.5"): no sign, exponent or words, so "-5" is never a range."""
    t = text.strip()
    whole, _, frac = t.partition(".")
    digits = (whole + frac).isascii() and (whole + frac).isdigit()
    if not (digits and (whole or frac) and t.count(".") <= 1):
        raise ValidationError("Dose must be a number or a range like '5-15'.")
    return finite(t)


class LabField(fields.Field):
    """A lab with its unit ("141 umol/L"), normalised to the lab's canonical unit."""

    def __init__(self, lab: str, **kwargs: Any):
        self.lab = lab
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str) and (len(value) > MAX_LAB_LENGTH or not readable(value)):
            raise ValidationError(f"A lab value is text of at most {MAX_LAB_LENGTH} characters.")
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = finite(value)
        try:
            return parse_lab(self.lab, value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def _words(text: str) -> str:
    """Lower case, punctuation to spaces, spaces collapsed: 'Child-Pugh  B' → 'child pugh b'."""
    return " ".join(text.lower().translate(_PUNCTUATION).split())


_PUNCTUATION = str.maketrans({c: " " for c in "-_/(),.:;'\""})


class _NoneOrLength(validate.Length):
    """Length, passing None (a value read as "not known")."""

    def __call__(self, value: Any) -> Any:
        return value if value is None else super().__call__(value)


class _Choice(fields.String):
    """Free text read into one of a few values (None: stated as not known); at most 60 characters."""

    choices: dict[str, str | None] = {}
    hint = ""

    def __init__(self, **kw: Any):
        super().__init__(validate=_NoneOrLength(max=60), **kw)  # the limit, for the OpenAPI document

    # marshmallow types String as Field[str], so its stub allows no None from `_deserialize`; a value
    # stated as not known ("unknown", "U") is None here on purpose, and the base must stay String
    # for the OpenAPI document's "type: string".
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> str | None:
        if not isinstance(value, str) or len(value) > 60 or not readable(value):
            raise ValidationError(self.hint)
        words = _words(value)
        if words in NOT_KNOWN:
            return None
        if words not in self.choices:
            raise ValidationError(self.hint)
        return self.choices[words]


class SexField(_Choice):
    """Sex as people and systems write it: F/M, female/male in any case, FHIR administrative-gender
    (male | female | other | unknown) and HL7 v2 (F, M, O, U, A, N, X). Only female and male
    feed Cockcroft-Gault; every other stated value is kept as not known."""

    choices = {"f": "female", "female": "female", "woman": "female", "fem": "female",
               "m": "male", "male": "male", "man": "male",
               "o": None, "other": None, "a": None, "ambiguous": None, "n": None, "not applicable": None,
               "x": None, "undifferentiated": None, "intersex": None}  # fmt: skip
    hint = "Must be female or male (F/M), or unknown/other (U/O)."


_HEPATIC_FILLER = {"child", "pugh", "childpugh", "cp", "class", "grade", "hepatic", "liver", "impairment"}


class HepaticField(_Choice):
    """Hepatic impairment: none/mild/moderate/severe, or Child-Pugh A/B/C written any usual way
    ("Child-Pugh B", "child pugh class b", "CP-B", "B", "Moderate")."""

    choices = {"none": "none", "no": "none", "normal": "none", "mild": "mild", "a": "mild",
               "moderate": "moderate", "mod": "moderate", "b": "moderate",
               "severe": "severe", "sev": "severe", "c": "severe"}  # fmt: skip
    hint = "Must be none, mild, moderate, severe or Child-Pugh A/B/C."

    def _deserialize(  # type: ignore[override]  # None for "not known", see _Choice
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> str | None:
        if isinstance(value, str) and len(value) <= 60:
            kept = [w for w in _words(value).split() if w not in _HEPATIC_FILLER]
            value = " ".join(kept) or value
        return super()._deserialize(value, attr, data, **kwargs)


class FlagField(fields.Boolean):
    """A yes/no fact: JSON true/false, 1/0, or yes/no, y/n, true/false in any case; unknown → None."""

    TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
    FALSE = frozenset({"false", "f", "no", "n", "0", "off"})

    # Boolean is Field[bool] in marshmallow's types; "unknown" is None on purpose (see _Choice), and
    # the base stays Boolean for the OpenAPI document's "type: boolean".
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> bool | None:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and len(value) <= 20:
            word = value.strip().lower()
            if word in self.TRUE or word in self.FALSE:
                return word in self.TRUE
            if word in NOT_KNOWN:
                return None
        raise ValidationError("Must be true or false (yes/no).")
