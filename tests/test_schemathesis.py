"""Property-based API tests driven by /openapi.json, in process: no 5xx for any generated input,
and every response conforms to the schema and status codes the document declares.

Bounded for CI: a couple of dozen examples per operation, no deadline (the first call of a
worker warms caches), health checks off (the regimen schema makes many inputs invalid).
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from checker.http import create_app

app = create_app({"TESTING": True})
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_own_document(case):
    case.call_and_validate(checks=CHECKS)
