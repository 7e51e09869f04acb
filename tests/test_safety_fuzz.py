"""Arbitrary JSON in every field of the regimen schema: `check()` answers or raises InvalidRegimen,
in bounded time, and `POST /v1/check` never answers 5xx (issue 14).

The fields come from the marshmallow schemas themselves, so a field added later is fuzzed too.
"""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import check
from checker.errors import InvalidRegimen
from checker.http import create_app
from checker.model import Report
from checker.schemas import MedicationSchema, PatientSchema, RegimenSchema

MED_FIELDS = tuple(MedicationSchema().fields)
PATIENT_FIELDS = tuple(PatientSchema().fields)
REGIMEN_FIELDS = tuple(RegimenSchema().fields)
SECONDS = 2.0

# Values of the right shape for some fields, so generated regimens also reach the engine's
# interpretation (units, sigs, renal bands) instead of all stopping at the schema.
PLAUSIBLE = {
    "drug": ["acetaminophen", "ketorolac", "Tylenol", "radium-223", "morphine", "gabapentin", "zzz"],
    "dose": [1, 15, 0.5, "5-15", 1e308, 10**401, -1, 0],
    "unit": ["mg", "g", "kBq/kg", "ug/h", "-g", "g*0", "mg*10^400", "10^100000000", "mg*9**9**9", "tabs"],
    "route": ["oral", "iv", "po", "transdermal"],
    "frequency": ["q6h", "bid", "every 4 weeks", "daily"],
    "sig": ["1 g PO q6h PRN pain", "15 mg IV q6 h (≤5 days)", "12 µg/h changed every 72 h", " " * 40_000],
    "sex": ["F", "m", "Female", "U", "other", "?"],
    "hepatic_impairment": ["Child-Pugh B", "B", "Moderate", "none"],
    "serum_creatinine": ["1.6 mg/dL", "141 umol/L", "1.6" + " " * 40_000 + "mg/dL", "5 -g"],
    "egfr": [5, 41, 90],
    "age_years": [71, 30],
    "weight_kg": [52, 80],
}

_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["\ud800", "a\udfffb", "mg\ud83d", "", " " * 1000, "x" * 5000]),
)
JSON = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _value(name: str) -> st.SearchStrategy:
    if name in PLAUSIBLE:
        return st.one_of(st.sampled_from(PLAUSIBLE[name]), JSON)
    return JSON


def _object(names: tuple[str, ...]) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={n: _value(n) for n in names})


REGIMEN = st.fixed_dictionaries(
    {"medications": st.one_of(st.lists(_object(MED_FIELDS), max_size=4), JSON)},
    optional={
        "patient": st.one_of(_object(PATIENT_FIELDS), JSON),
        "\ud800": JSON,  # an unknown field, named by a lone surrogate
    },
)


def test_every_schema_field_is_fuzzed():
    assert set(REGIMEN_FIELDS) == {"patient", "medications"}
    assert {"dose", "unit", "sig", "dose_number", "start_date"} <= set(MED_FIELDS)
    assert {"sex", "egfr", "conditions", "serum_creatinine"} <= set(PATIENT_FIELDS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REGIMEN)
def test_check_answers_or_raises_invalid_regimen_in_bounded_time(regimen):
    started = time.perf_counter()
    try:
        report = check(regimen)
    except InvalidRegimen as exc:
        assert exc.errors
        for path, messages in exc.errors.items():  # printable anywhere: no lone surrogates
            path.encode("utf-8")
            for m in messages:
                m.encode("utf-8")
    else:
        assert isinstance(report, Report)
        report.to_dict()
    assert time.perf_counter() - started < SECONDS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(REGIMEN, JSON))
def test_post_check_never_answers_5xx(regimen):
    client = _client()
    started = time.perf_counter()
    body = json.dumps(regimen)  # Python's encoder: huge integers, NaN and lone surrogates as sent
    response = client.post("/v1/check", data=body, content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    assert time.perf_counter() - started < SECONDS


_APP = []


def _client():
    if not _APP:
        _APP.append(create_app({"TESTING": True}))
    return _APP[0].test_client()
