"""The OpenAPI document is the HTTP contract: any change to it must be deliberate.

Regenerate after an intended change with:
    MEDCHECK_UPDATE_SNAPSHOT=1 python3 -m pytest tests/test_openapi_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from checker.http.app import create_app

SNAPSHOT = Path(__file__).parent / "fixtures" / "openapi.json"


def _spec() -> dict:
    spec = create_app().test_client().get("/openapi.json").get_json()
    spec["info"].pop("version", None)  # the package version moves with every release
    return spec


def test_openapi_document_matches_the_snapshot():
    spec = _spec()
    if os.environ.get("MEDCHECK_UPDATE_SNAPSHOT") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    assert spec == json.loads(SNAPSHOT.read_text()), "OpenAPI changed: review it, then regenerate"


def test_every_v1_operation_documents_its_errors():
    paths = _spec()["paths"]
    check = paths["/v1/check"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422"} <= set(check)
    assert "404" in paths["/v1/formulary/{name}"]["get"]["responses"]
