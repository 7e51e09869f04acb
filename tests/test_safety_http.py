"""Issue 14, the HTTP layer through the Flask test client: nothing a client sends is a 500.

Huge integers, lone UTF-16 surrogates, wrong JSON types and deep nesting, in every field of a
regimen and of a CDS Hooks call; chunked bodies over the size limit; and hypothesis bodies,
arbitrary and valid-shaped with random values, answered below 500 in bounded time.
"""

from __future__ import annotations

import copy
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.http import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
SIGN = "/cds-services/medcheck-order-sign"
SELECT = "/cds-services/medcheck-order-select"
HUGE = int("9" * 401)
SURROGATE = "\ud800"
BOUND_S = 5.0  # one request, on a loaded 2-core machine; they take milliseconds

REGIMEN = {
    "patient": {
        "id": "p-001", "age_years": 71, "weight_kg": 52, "sex": "female", "crcl_ml_min": 38,
        "serum_creatinine": "1.6 mg/dL", "egfr": 41, "hepatic_impairment": "none", "qtc_ms": 462,
        "serum_calcium": "2.05 mmol/L", "platelets": "140 10^9/L", "anc": "2.1 10^9/L",
        "hemoglobin": "11.2 g/dL", "opioid_tolerant": False, "dental_exam_done": False,
        "pregnant": False, "conditions": ["bone_metastases", "gi_bleed_history"],
    },
    "medications": [
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
        {"drug": "Tylenol", "sig": "1 g PO q6h PRN pain"},
        {"drug": "ketorolac", "dose": 15, "unit": "mg", "route": "iv", "frequency": "q6h",
         "duration_days": 7},
        {"drug": "radium-223", "dose": 55, "unit": "kBq/kg", "route": "iv", "frequency": "every 4 weeks",
         "dose_number": 7},
        {"drug": "oxycodone", "dose": "5-15", "unit": "mg", "prn": True, "max_daily_dose": 60,
         "max_daily_unit": "mg", "start_date": "2026-11-20"},
        {"rxcui": "198440", "atc": "N02BE01", "dose": 500, "unit": "mg"},
    ],
}  # fmt: skip


def cds_call() -> dict:
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://ehr.example.org/fhir",
        "context": {
            "userId": "Practitioner/dr-1",
            "patientId": "p-001",
            "draftOrders": json.loads((FIXTURES / "draft-orders.json").read_text(encoding="utf-8")),
        },
        "prefetch": json.loads((FIXTURES / "prefetch.json").read_text(encoding="utf-8")),
    }


CDS = cds_call()


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True})


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def post(client, url: str, body: Any = None, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body, ensure_ascii=True).encode()
    started = time.perf_counter()
    response = client.post(url, data=data, content_type="application/json")
    elapsed = time.perf_counter() - started
    assert elapsed < BOUND_S, f"{url} took {elapsed:.1f} s"
    return response


def client_error(response, *statuses: int) -> dict:
    """A 4xx in the one error shape; never a traceback."""
    text = response.get_data(as_text=True)
    assert response.status_code in statuses, text
    assert response.mimetype == "application/json" and "Traceback" not in text
    body = response.get_json()
    assert body["code"] == response.status_code and body["status"] and body["message"]
    assert set(body) <= {"code", "status", "message", "errors"}
    return body


def leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, value) of every node below the root, containers included."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out = []
    for key, child in items:
        out.append(((*path, key), child))
        out.extend(leaves(child, (*path, key)))
    return out


def replaced(doc: Any, path: tuple, new: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return doc


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def numbers(doc: Any) -> list[tuple]:
    return [p for p, v in leaves(doc) if isinstance(v, int | float) and not isinstance(v, bool)]


def strings(doc: Any) -> list[tuple]:
    return [p for p, v in leaves(doc) if isinstance(v, str)]


def test_the_templates_are_accepted(client):
    assert post(client, "/v1/check", REGIMEN).status_code == 200
    assert post(client, SIGN, CDS).status_code == 200


# --- huge integers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", numbers(REGIMEN) + strings(REGIMEN), ids=dotted)
def test_a_401_digit_integer_in_any_regimen_field_is_a_field_error(client, path):
    body = client_error(post(client, "/v1/check", replaced(REGIMEN, path, HUGE)), 422)
    assert dotted(path) in body["errors"]


@pytest.mark.parametrize("path", numbers(CDS), ids=dotted)
def test_a_401_digit_integer_in_any_cds_number_is_a_400_naming_it(client, path):
    body = client_error(post(client, SIGN, replaced(CDS, path, HUGE)), 400)
    assert dotted(path) in body["errors"]


@pytest.mark.parametrize(
    "raw", [b'{"medications": [{"drug": "x", "dose": 1e400}]}', b"1e999", b"-" + b"9" * 401]
)
def test_numbers_no_float_holds_are_refused_by_path(client, raw):
    body = client_error(post(client, "/v1/check", raw=raw), 422)
    assert set(body["errors"]) <= {"medications.0.dose", "regimen"}


# --- lone surrogates --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", strings(REGIMEN), ids=dotted)
def test_a_lone_surrogate_in_any_regimen_string_is_a_400(client, path):
    body = client_error(post(client, "/v1/check", replaced(REGIMEN, path, "ab" + SURROGATE)), 400)
    assert "surrogate" in body["message"] and dotted(path) in body["message"]


@pytest.mark.parametrize("path", strings(CDS), ids=dotted)
def test_a_lone_surrogate_in_any_cds_string_is_a_400(client, path):
    client_error(post(client, SIGN, replaced(CDS, path, "\udfff")), 400)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/v1/check", {**REGIMEN, SURROGATE: 1}),
        ("/v1/check", replaced(REGIMEN, ("medications", 0), {"drug": "x", "\udc00": 1})),
        (SIGN, replaced(CDS, ("context", "draftOrders", "entry", 0, "resource"), {"\ud83d": "x"})),
        ("/cds-services/medcheck-order-sign/feedback",
         {"feedback": [{"card": SURROGATE, "outcome": "accepted", "outcomeTimestamp": "t"}]}),
    ],
)  # fmt: skip
def test_a_lone_surrogate_in_a_key_or_feedback_is_a_400(client, url, body):
    """These used to be 500s: the error body naming the bad key could not be encoded."""
    client_error(post(client, url, body), 400)


# --- wrong types and depth --------------------------------------------------------------------------

WRONG = [None, True, 0, -1, 1.5, "", "x", [], {}, [1, "a"], {"a": {"b": []}}]


@pytest.mark.parametrize("path", [p for p, _ in leaves(REGIMEN)], ids=dotted)
def test_wrong_json_types_anywhere_in_a_regimen(client, path):
    for value in WRONG:
        response = post(client, "/v1/check", replaced(REGIMEN, path, value))
        if response.status_code != 200:
            client_error(response, 422)


@pytest.mark.parametrize("body", WRONG + [[REGIMEN], "medications"], ids=repr)
def test_a_body_that_is_not_an_object(client, body):
    client_error(post(client, "/v1/check", body), 422)
    client_error(post(client, SIGN, body), 400)


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/v1/check", ()),
        ("/v1/check", ("medications", 0, "drug")),
        (SIGN, ()),
        (SIGN, ("prefetch", "patient", "extension")),
        (SIGN, ("context", "draftOrders", "entry", 0, "resource", "dosageInstruction")),
    ],
)
def test_deep_nesting_is_a_400(client, url, where, depth):
    template = REGIMEN if url == "/v1/check" else CDS
    deep = "[" * depth + "1" + "]" * depth
    raw = json.dumps(replaced(template, where, "@deep@") if where else "@deep@").replace('"@deep@"', deep)
    body = client_error(post(client, url, raw=raw.encode()), 400)
    assert "nested deeper" in body["message"]


def test_nesting_within_the_limit_is_not_an_error(client):
    deep: Any = {"url": "x"}
    for _ in range(30):  # 61 levels with the body's own object: within the limit of 64
        deep = {"extension": [deep]}
    assert post(client, SIGN, {**CDS, "extension": deep}).status_code == 200


@pytest.mark.parametrize("raw", [b"NaN", b'{"medications": [{"drug": "x", "dose": Infinity}]}', b"-Infinity"])
def test_non_json_constants_are_a_400(client, raw):
    client_error(post(client, "/v1/check", raw=raw), 400)
    client_error(post(client, SIGN, raw=raw), 400)


# --- chunked bodies ----------------------------------------------------------------------------------


def chunked(client, url: str, data: bytes, **headers: str):
    """As gunicorn hands a chunked body to the app: no Content-Length, a stream it terminates."""
    return client.post(
        url,
        input_stream=io.BytesIO(data),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json", **headers},
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("url", ["/v1/check", SIGN])
def test_a_chunked_body_over_the_limit_is_413(client, app, url):
    """It was cut at the limit and, being valid JSON there, answered 200."""
    body = json.dumps(REGIMEN if url == "/v1/check" else CDS).encode()
    response = chunked(client, url, body + b" " * (3 * 1024 * 1024))
    err = client_error(response, 413)
    assert str(app.config["MAX_CONTENT_LENGTH"]) in err["message"]


def test_a_chunked_body_at_the_limit_is_read_whole(client, app):
    body = json.dumps(REGIMEN).encode()
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert chunked(client, "/v1/check", b" " * (limit - len(body)) + body).status_code == 200
    client_error(chunked(client, "/v1/check", b" " * (limit + 1 - len(body)) + body), 413)


def test_chunked_with_a_content_length_is_read_by_its_chunks(client):
    """RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; a small declared length must not
    let a large chunked body through."""
    data = json.dumps(REGIMEN).encode() + b" " * (2 * 1024 * 1024)
    client_error(chunked(client, "/v1/check", data, **{"Content-Length": "10"}), 413)


# --- hypothesis ----------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**420),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0, -1, 1e308, -1e-300, 5e-324]),
    st.text(max_size=30), st.sampled_from(["", " ", "\ud800", "a\udfff", "1e400", "NaN", "5-15", "0 g",
                                           "mg*10^400", "q6h", "1 g PO q6h", "\r\nX", "\x00"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
REGIMEN_PATHS = [p for p, _ in leaves(REGIMEN)]
CDS_PATHS = [p for p, _ in leaves(CDS)]


def mutated(template: Any, paths: list[tuple]) -> st.SearchStrategy:
    """The template with 1-4 of its nodes replaced by random JSON: valid-shaped, random values."""

    def apply(changes: list[tuple[int, Any]]) -> Any:
        doc = copy.deepcopy(template)
        for index, value in changes:
            try:
                doc = replaced(doc, paths[index % len(paths)], value)
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed the path
        return doc

    return st.lists(st.tuples(st.integers(0, len(paths) - 1), json_values), min_size=1, max_size=4).map(apply)


def assert_answered(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        client_error(response, response.status_code)


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(body=json_values)
def test_arbitrary_json_is_never_a_5xx(client, body):
    for url in ("/v1/check", SIGN, SELECT, "/cds-services/medcheck-order-sign/feedback"):
        assert_answered(post(client, url, body))


@HYPOTHESIS
@given(body=mutated(REGIMEN, REGIMEN_PATHS))
def test_valid_shaped_regimens_with_random_values_are_never_a_5xx(client, body):
    assert_answered(post(client, "/v1/check", body))


@HYPOTHESIS
@given(body=mutated(CDS, CDS_PATHS), hook=st.sampled_from(["order-sign", "order-select"]))
def test_valid_shaped_cds_calls_with_random_values_are_never_a_5xx(client, body, hook):
    if isinstance(body, dict) and isinstance(body.get("context"), dict) and hook == "order-select":
        body = {
            **body,
            "hook": hook,
            "context": {**body["context"], "selections": ["MedicationRequest/apap-1"]},
        }
    assert_answered(post(client, SELECT if hook == "order-select" else SIGN, body))


@HYPOTHESIS
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_are_never_a_5xx(client, raw):
    for url in ("/v1/check", SIGN):
        assert_answered(post(client, url, raw=raw))


def test_an_error_body_always_encodes(app):
    """Whatever reaches an error body (here a lone surrogate, or nesting past orjson's limit) is
    written with ASCII escapes instead of failing, which turned a 4xx into a 500."""
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    with app.app_context():
        assert json.loads(app.json.dumps({"errors": {SURROGATE: ["x"]}})) == {"errors": {SURROGATE: ["x"]}}
        assert json.loads(app.json.response(deep).get_data()) == deep
