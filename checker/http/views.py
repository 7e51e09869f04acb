"""The /v1 API and /healthz: thin views over `checker.engine` and `checker.catalogue`.

The regimen is validated by the library's own `RegimenSchema` (so HTTP and Python reject the
same input with the same field paths), and the report is sent as `Report.to_dict()` gives it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Api, abort
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser, is_json_request

from checker.catalogue import drug_detail
from checker.http import schemas as s
from checker.http.body import BodyError, NumbersOutOfRange, parse_json
from checker.http.service import knowledge, report_json
from checker.model import Regimen
from checker.schemas import DoseField, LabField, RegimenSchema


class JsonBodyParser(FlaskParser):
    """webargs' parser, stricter about bodies: empty or unparseable JSON is a 400 with a reason.

    webargs treats an empty body as "no data" (a 422 naming every required field) and lets a
    RecursionError from deeply nested JSON escape as a 500; both are the client's malformed JSON.
    `body.parse_json` also refuses what later steps could not encode (lone surrogates).
    """

    def load_json(self, req: Any, schema: Any) -> Any:
        if not is_json_request(req):
            return super().load_json(req, schema)
        raw = req.get_data(cache=True)
        if not raw.strip():
            abort(400, message="The request body is empty; send a JSON object.")
        try:
            return parse_json(raw)
        except NumbersOutOfRange as exc:  # a field error, answered like the schema's own
            raise ValidationError(exc.errors) from None
        except BodyError as exc:
            abort(400, message=f"The request body is not valid JSON: {exc}.")


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = JsonBodyParser()


# Responses every body-taking operation can give besides its success and 422.
BODY_ERRORS = {
    400: "Malformed JSON",
    413: "Body over the size limit (MAX_CONTENT_LENGTH, default 1 MiB)",
    415: "Body is not application/json",
}

# Schema instances, not classes: webargs would build (and deep-copy) a new one for every request.
REGIMEN_SCHEMA = RegimenSchema()

health = Blueprint("health", __name__, description="Liveness")
v1 = Blueprint("v1", __name__, url_prefix="/v1", description="Dose and interaction checks")


def alt_errors(blp: Blueprint, codes: dict[int, str]) -> Any:
    """Document error responses (all with the error schema) on a view."""

    def wrap(fn: Any) -> Any:
        for code, description in codes.items():
            fn = blp.alt_response(code, schema=s.ErrorSchema, description=description)(fn)
        return fn

    return wrap


@health.route("/healthz")
class Health(MethodView):
    @health.response(200, s.HealthSchema)
    def get(self) -> dict[str, str]:
        """Liveness: the process is up and its knowledge is loaded."""
        return {"status": "ok", "knowledge_version": knowledge().version}


@v1.route("/check")
class Check(MethodView):
    @v1.arguments(REGIMEN_SCHEMA, description="A regimen: patient context and medications")
    @v1.arguments(s.CheckQuerySchema, location="query", as_kwargs=True)
    @v1.response(200, s.ReportSchema)
    @alt_errors(v1, BODY_ERRORS)
    def post(self, regimen: Regimen, include_suppressed: bool = False) -> Response:
        """Check a regimen: dose limits, interactions, patient cautions.

        Returns the report of CONTRACT.md §2. A schema violation is a 422 naming every bad field
        by its path (`medications.2.dose`); a drug the formulary does not know is a finding, not
        an error.
        """
        return Response(report_json(regimen, include_suppressed), mimetype="application/json")


@v1.route("/formulary")
class Formulary(MethodView):
    @v1.response(200, s.FormularySchema)
    def get(self) -> Response:
        """Every drug, supplement and co-medication the checker knows."""
        k = knowledge()
        return jsonify({"knowledge_version": k.version, "drugs": k.drugs})


@v1.route("/formulary/<string:name>")
class FormularyEntry(MethodView):
    @v1.response(200, s.DrugDetailSchema)
    @alt_errors(v1, {404: "Not in the formulary"})
    def get(self, name: str) -> Response:
        """One drug by id, generic or brand name, synonym, ATC code or RxCUI (any case)."""
        detail = drug_detail(name)
        if detail is None:
            abort(404, message=f"{name!r} is not in the formulary.")
            raise AssertionError("abort raises")  # flask-smorest ships no types: mypy cannot see it
        return jsonify({**detail, "knowledge_version": knowledge().version})


@v1.route("/rules")
class Rules(MethodView):
    @v1.response(200, s.RulesSchema)
    def get(self) -> Response:
        """Every rule: dose limits and the rules layer's tables, with severity and source."""
        k = knowledge()
        return jsonify({"knowledge_version": k.version, "rules": k.rules})


def document_custom_fields(api: Api) -> None:
    """Describe the library's custom fields, which apispec cannot infer, in the OpenAPI document."""

    def custom(self: Any, field: Any, **_: Any) -> dict[str, Any]:
        if isinstance(field, DoseField):
            return {"oneOf": [{"type": "number"}, {"type": "string", "example": "5-15"}],
                    "description": "A number, or a range 'low-high' checked at its top"}  # fmt: skip
        if isinstance(field, LabField):
            return {"oneOf": [{"type": "number"}, {"type": "string", "example": "1.6 mg/dL"}],
                    "description": "A value in the field's unit, or a string with its unit"}  # fmt: skip
        return {}

    api.ma_plugin.converter.add_attribute_function(custom)
