"""/v1/feedback/summary (the override analytics as JSON) and /v1/outcomes (what a pharmacist did
with a finding on the pages: acted on, or overridden because of a coded reason)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate

from checker.governance.analytics import feedback_summary, parse_since
from checker.http.views import Blueprint, alt_errors
from checker.store.feedback import PAGE_OUTCOMES, record_outcome

blp = Blueprint("governance", __name__, url_prefix="/v1", description="Alert governance")


class SinceField(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        try:
            return parse_since(super()._deserialize(value, attr, data, **kwargs))
        except ValueError:
            raise ValidationError("an ISO date (2026-12-01) or date-time") from None


class SummaryQuery(Schema):
    since = SinceField(metadata={"description": "ISO date; default 30 days ago"})


class ReasonCount(Schema):
    code = fields.String(required=True)
    count = fields.Integer(required=True)


class RuleSummary(Schema):
    rule = fields.String(required=True)
    shown = fields.Integer(required=True)
    accepted = fields.Integer(required=True)
    overridden = fields.Integer(required=True)
    override_rate = fields.Float(required=True)
    reasons = fields.List(fields.Nested(ReasonCount), required=True)


class SummarySchema(Schema):
    since = fields.String(required=True)
    rules = fields.List(fields.Nested(RuleSummary), required=True)


class OutcomeSchema(Schema):
    rule = fields.String(required=True, validate=validate.Length(min=1, max=200))
    outcome = fields.String(required=True, validate=validate.OneOf(PAGE_OUTCOMES))
    reason = fields.String(validate=validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", error="a reason code (letters, digits, . _ : -)"))
    merged = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=50),
        metadata={"description": "the rule of each entry of the finding's evidence.merged: the "
                                 "outcome counts for each of them too (each rule once)"})  # fmt: skip


class RecordedSchema(Schema):
    recorded = fields.Integer(required=True, metadata={"description": "rules the outcome was recorded for"})


@blp.route("/feedback/summary")
class Summary(MethodView):
    @blp.arguments(SummaryQuery, location="query", as_kwargs=True)
    @blp.response(200, SummarySchema)
    def get(self, since: Any = None) -> Response:
        """Per rule since a day: shown, accepted, overridden, override rate and top reasons."""
        store = current_app.extensions["medcheck.store"]
        if (rec := current_app.extensions.get("medcheck.shown")) is not None:
            rec.flush()  # this worker's latest counts too
        return jsonify(feedback_summary(store, since or parse_since(None)))


@blp.route("/outcomes")
class Outcomes(MethodView):
    @blp.arguments(OutcomeSchema)
    @blp.response(201, RecordedSchema)
    @alt_errors(blp, {400: "Malformed JSON", 415: "Body is not application/json"})
    def post(self, body: dict[str, Any]) -> Response:
        """Record a finding acted on, or overridden with a coded reason (no free text is kept).

        It is recorded for the finding's rule and for each rule merged into it (`merged`)."""
        known = {r["id"] for r in current_app.extensions["medcheck"].rules}
        if body["rule"] not in known:
            abort(422, errors={"json": {"rule": [f"no rule {body['rule']!r}; see GET /v1/rules"]}})
        merged = body.get("merged") or []
        unknown = {i: [f"no rule {r!r}; see GET /v1/rules"] for i, r in enumerate(merged) if r not in known}
        if unknown:
            abort(422, errors={"json": {"merged": unknown}})
        store = current_app.extensions["medcheck.store"]
        n = record_outcome(store, body["rule"], body["outcome"], body.get("reason"), merged)
        response = jsonify({"recorded": n})
        response.status_code = 201
        return response
