"""Response and CDS Hooks request schemas: they document the API and validate what comes in.

The regimen itself is validated by `checker.schemas.RegimenSchema`, the same schema the library
uses. Response schemas here are for the OpenAPI document (and the schemathesis test that holds
responses to it); the views send `Report.to_dict()` as is, so a key the engine adds is never
silently dropped by a dump. They accept extra keys for the same reason.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from checker.model import SEVERITIES

# The contract's finding categories (CONTRACT.md §2).
CATEGORIES = (
    "dose_single", "dose_daily", "frequency", "duration", "course", "weight_based", "unit",
    "interaction", "duplication", "renal", "hepatic", "age", "condition", "monitoring",
    "opioid_load", "unrecognized", "input",
)  # fmt: skip


class Open(Schema):
    """A response object: documented keys, more allowed."""

    class Meta:
        unknown = INCLUDE


class ErrorSchema(Open):
    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = fields.String(required=True, metadata={"description": "HTTP status name"})
    message = fields.String(metadata={"description": "What went wrong, for people"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages per field, by dotted path (`medications.2.dose`)"},
    )


class SourceSchema(Open):
    id = fields.String()
    label = fields.String()
    url = fields.String()
    verified = fields.Boolean()
    note = fields.String()


class FindingSchema(Open):
    code = fields.String(required=True, metadata={"example": "dose.daily_max"})
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    drugs = fields.List(fields.String(), required=True, metadata={"description": "Canonical drug ids"})
    medications = fields.List(
        fields.Integer(), required=True, metadata={"description": "Indexes into the request's list"}
    )
    message = fields.String(required=True)
    recommendation = fields.String()
    evidence = fields.Dict(keys=fields.String(), values=fields.Raw())
    source = fields.Nested(SourceSchema)


class CountsSchema(Schema):
    contraindicated = fields.Integer(required=True)
    major = fields.Integer(required=True)
    moderate = fields.Integer(required=True)
    minor = fields.Integer(required=True)
    info = fields.Integer(required=True)


class ReportMedicationSchema(Open):
    index = fields.Integer(required=True)
    input = fields.String(required=True)
    drug = fields.String(required=True, allow_none=True, metadata={"description": "Canonical id"})
    product = fields.String(metadata={"description": "The product (strength and form) the order was read as"})
    product_line = fields.String(
        metadata={"description": "Product line read ('tramadol_er' for Ultram ER): its scoped rows apply"}
    )
    release = fields.String(metadata={"description": "immediate or extended, when the product says"})
    route = fields.String()
    dose = fields.String()
    daily_dose = fields.String()
    interval_h = fields.Float()
    prn = fields.Boolean()
    ingredients = fields.List(
        fields.Dict(),
        metadata={"description": "Per active ingredient: drug id, amount per dose, per day (null: unread)"},
    )


class ReportSchema(Open):
    knowledge_version = fields.String(required=True, metadata={"example": "2026.11.1+3f9c2a1b"})
    highest_severity = fields.String(required=True, allow_none=True, validate=validate.OneOf(SEVERITIES))
    counts = fields.Nested(CountsSchema, required=True)
    findings = fields.List(fields.Nested(FindingSchema), required=True)
    medications = fields.List(fields.Nested(ReportMedicationSchema), required=True)
    suppressed = fields.Integer(metadata={"description": "Findings the site layer suppressed"})


class CheckQuerySchema(Schema):
    include_suppressed = fields.Boolean(load_default=False, metadata={
        "description": "List the findings the site layer suppressed, marked `suppressed: true`"})


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    knowledge_version = fields.String(required=True)


class DrugSummarySchema(Open):
    id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    classes = fields.List(fields.String(), required=True)


class FormularySchema(Schema):
    knowledge_version = fields.String(required=True)
    drugs = fields.List(fields.Nested(DrugSummarySchema), required=True)


class DoseLimitSchema(Open):
    routes = fields.List(fields.String(), required=True)
    when = fields.Dict(keys=fields.String(), values=fields.Raw())
    category = fields.String(allow_none=True)
    severity = fields.String(required=True)
    unit = fields.String()
    release = fields.String(metadata={"description": "The release the row is written for; absent: either"})
    products = fields.List(
        fields.String(), metadata={"description": "The product lines the row is written for; absent: all"}
    )
    max_single = fields.Float()
    max_daily = fields.Float()
    min_interval_h = fields.Float()
    max_duration_days = fields.Float()
    course_max_doses = fields.Integer()
    max_single_per_kg = fields.Float()
    max_daily_per_kg = fields.Float()
    summary = fields.String()
    recommendation = fields.String()
    note = fields.String()
    verified = fields.Boolean()
    source = fields.Nested(SourceSchema)


class DrugDetailSchema(DrugSummarySchema):
    knowledge_version = fields.String(required=True)
    dose_unit = fields.String()
    route_units = fields.Dict(keys=fields.String(), values=fields.String())
    routes = fields.List(fields.String())
    brands = fields.List(fields.String())
    synonyms = fields.List(fields.String())
    atc = fields.List(fields.String())
    rxcui = fields.List(fields.String())
    limits = fields.List(fields.Nested(DoseLimitSchema))
    note = fields.String()
    source = fields.Nested(SourceSchema)


class RuleSchema(Open):
    id = fields.String(required=True)
    category = fields.String(required=True)
    severity = fields.String(required=True)
    drugs = fields.List(fields.String())
    summary = fields.String()
    source = fields.Raw(metadata={"description": "Source label, or an object with label and url"})
    verified = fields.Boolean()
    patient_band = fields.String(
        metadata={"description": "The patients the rule is written for (e.g. 'aged 65 or over'); absent: all"}
    )
    except_drugs = fields.List(
        fields.String(),
        metadata={"description": "Members of `drugs` the rule leaves out ('class:cox2_inhibitor')"},
    )
    release = fields.String(
        metadata={"description": "Dose limits: the release the row is written for; absent: either"}
    )
    products = fields.List(
        fields.String(),
        metadata={"description": "Dose limits: the products the row is for ('Hysingla ER'); absent: all"},
    )


class RulesSchema(Schema):
    knowledge_version = fields.String(required=True)
    rules = fields.List(fields.Nested(RuleSchema), required=True)


# --- CDS Hooks 2.0 ---------------------------------------------------------------------------


class Lenient(Schema):
    """CDS Hooks objects may carry extensions; unknown keys are ignored, not rejected."""

    class Meta:
        unknown = EXCLUDE


class FhirAuthorizationSchema(Lenient):
    access_token = fields.String(required=True, load_only=True)
    token_type = fields.String()
    expires_in = fields.Integer()
    scope = fields.String()
    subject = fields.String()
    patient = fields.String()


class BundleEntrySchema(Lenient):
    fullUrl = fields.String()
    resource = fields.Dict(required=True, metadata={"description": "A FHIR R4 resource"})


class BundleSchema(Lenient):
    resourceType = fields.String(required=True, validate=validate.Equal("Bundle"))
    type = fields.String()
    entry = fields.List(fields.Nested(BundleEntrySchema), load_default=list)


class OrderContextSchema(Lenient):
    userId = fields.String(required=True, validate=validate.Length(min=1, max=500))
    patientId = fields.String(required=True, validate=validate.Length(min=1, max=500))
    encounterId = fields.String(allow_none=True)
    selections = fields.List(fields.String(), metadata={"description": "Required for order-select"})
    draftOrders = fields.Nested(BundleSchema, required=True)


class CdsRequestSchema(Lenient):
    hook = fields.String(required=True, validate=validate.OneOf(["order-select", "order-sign"]))
    hookInstance = fields.String(required=True, validate=validate.Length(min=1, max=200))
    fhirServer = fields.String(allow_none=True)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, allow_none=True)
    context = fields.Nested(OrderContextSchema, required=True)
    prefetch = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), allow_none=True)
    extension = fields.Dict(allow_none=True)

    @validates_schema
    def _server_with_token(self, data: dict, **_: object) -> None:
        if data.get("fhirAuthorization") and not data.get("fhirServer"):
            raise ValidationError("fhirServer is required with fhirAuthorization.", "fhirServer")


class CodingSchema(Open):
    system = fields.String()
    code = fields.String()
    display = fields.String()


class CardSourceSchema(Open):
    label = fields.String(required=True)
    url = fields.String()
    topic = fields.Nested(CodingSchema)


class CardSchema(Open):
    uuid = fields.String(required=True)
    summary = fields.String(required=True, validate=validate.Length(max=140))
    detail = fields.String()
    indicator = fields.String(required=True, validate=validate.OneOf(["info", "warning", "critical"]))
    source = fields.Nested(CardSourceSchema, required=True)
    overrideReasons = fields.List(fields.Nested(CodingSchema))


class CardsSchema(Open):
    cards = fields.List(fields.Nested(CardSchema), required=True)


class ServiceSchema(Open):
    hook = fields.String(required=True)
    id = fields.String(required=True)
    title = fields.String()
    description = fields.String(required=True)
    prefetch = fields.Dict(keys=fields.String(), values=fields.String())


class DiscoverySchema(Schema):
    services = fields.List(fields.Nested(ServiceSchema), required=True)


class OverrideReasonSchema(Lenient):
    reason = fields.Nested(CodingSchema, allow_none=True)
    userComment = fields.String(allow_none=True, validate=validate.Length(max=2000))


class FeedbackItemSchema(Lenient):
    card = fields.String(required=True, validate=validate.Length(min=1, max=200))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(fields.Dict(), load_default=list)
    overrideReason = fields.Nested(OverrideReasonSchema, allow_none=True)
    outcomeTimestamp = fields.String(required=True, validate=validate.Length(max=100))


class FeedbackSchema(Lenient):
    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True,
                           validate=validate.Length(min=1, max=500))  # fmt: skip


class FeedbackAckSchema(Schema):
    recorded = fields.Integer(required=True)
