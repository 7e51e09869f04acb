"""CDS Hooks 2.0: discovery, the order-select and order-sign services, and card feedback.

A call's draft orders (FHIR R4 MedicationRequests) and prefetched patient data become one
regimen; the engine's findings become cards. Only findings that involve the orders being
written are shown: on order-select the selected ones, on order-sign any draft (a prefetched
active medication matters only through its interaction with a draft). An order that cannot
be read becomes a card saying so: a silent gap would read as "no problems found".
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import abort

from checker.errors import InvalidRegimen
from checker.governance.serving import note_cards, site_report, store_feedback
from checker.http import cors, fhir
from checker.http import schemas as s
from checker.http.logs import logfmt
from checker.http.service import knowledge
from checker.http.views import Blueprint, alt_errors
from checker.model import Finding
from checker.schemas import MAX_MEDICATIONS, load_regimen

log = logging.getLogger("medcheck.cds")

blp = Blueprint("cds", __name__, url_prefix="/cds-services", description="CDS Hooks 2.0 services")

INDICATOR = {"contraindicated": "critical", "major": "critical", "moderate": "warning",
             "minor": "info", "info": "info"}  # fmt: skip
TOPIC_SYSTEM = "urn:medcheck:finding-code"
OVERRIDE_SYSTEM = "urn:medcheck:override-reason"
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "benefit-outweighs-risk", "display": "Benefit outweighs risk"},
    {"system": OVERRIDE_SYSTEM, "code": "tolerated-before", "display": "Patient has tolerated this before"},
    {"system": OVERRIDE_SYSTEM, "code": "will-monitor", "display": "Will monitor closely / adjust"},
    {"system": OVERRIDE_SYSTEM, "code": "palliative-care", "display": "Palliative or end-of-life care"},
    {"system": OVERRIDE_SYSTEM, "code": "not-applicable", "display": "Alert does not apply to this patient"},
]
SUMMARY_MAX = 139  # CDS Hooks: "<140 characters"


def _observations(*codes: str) -> str:
    loinc = ",".join(f"{fhir.LOINC}|{c}" for c in codes)
    return f"Observation?patient={{{{context.patientId}}}}&code={loinc}&_sort=-date&_count=1"


PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "weight": _observations("29463-7"),
    "creatinine": _observations("2160-0", "14682-9"),
    "egfr": _observations("33914-3", "62238-1", "98979-8"),
    "creatinineClearance": _observations("2164-2"),
    "calcium": _observations("17861-6", "2000-8"),
    "platelets": _observations("777-3", "26515-7"),
    "neutrophils": _observations("751-8"),
    "hemoglobin": _observations("718-7"),
    "albumin": _observations("1751-7"),
    "qtc": _observations("8636-3"),
    "activeMedications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
}
_DESCRIPTION = (
    "Checks medication and supplement orders for dose limits (single, daily, per kg, interval, "
    "duration, course), interactions, duplication, opioid load, and renal, hepatic, age and "
    "laboratory cautions, using the patient's weight, age, creatinine/eGFR, calcium, platelets, "
    "QTc and active conditions (problem list) when prefetched."
)
SERVICES: dict[str, dict[str, Any]] = {
    "medcheck-order-select": {
        "hook": "order-select",
        "id": "medcheck-order-select",
        "title": "medcheck: dose and interaction check of the selected orders",
        "description": _DESCRIPTION + " Reports only findings involving the selected orders.",
        "prefetch": PREFETCH,
    },
    "medcheck-order-sign": {
        "hook": "order-sign",
        "id": "medcheck-order-sign",
        "title": "medcheck: dose and interaction check before signing",
        "description": _DESCRIPTION + " Reports every finding involving the orders being signed.",
        "prefetch": PREFETCH,
    },
}


@dataclass(frozen=True, slots=True)
class Owner:
    """Which order a regimen medication came from."""

    ref: str
    label: str
    draft: bool


# --- cards ----------------------------------------------------------------------------------------


def summarize(text: str, limit: int = SUMMARY_MAX) -> str:
    """One line under the CDS Hooks summary limit, cut at a word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def _md(text: Any) -> str:
    return re.sub(r"([\\`*_|<>\[\]])", r"\\\1", str(text))


def _card_uuid() -> str:
    """A fresh id for every card of every call: feedback names the card shown, never one from another
    patient's call that happened to say the same thing (the service, finding and orders stay in
    `extension.medcheck`)."""
    return str(uuid.uuid4())


def finding_card(f: Finding, owners: list[Owner], service_id: str, version: str) -> dict[str, Any]:
    """A finding as a card: the numbers in the detail, the source and knowledge version in source."""
    involved = [owners[i] for i in f.medications if 0 <= i < len(owners)]
    refs = sorted({o.ref for o in involved})
    lines = [f"**{_md(f.message)}**", ""]
    if f.recommendation:
        lines += [f"Recommendation: {_md(f.recommendation)}", ""]
    evidence = {k: v for k, v in f.evidence.items() if k != "merged"}
    if evidence:
        lines += ["| evidence | value |", "|---|---|"]
        for key, value in evidence.items():
            shown = value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False)
            lines.append(f"| {_md(key)} | {_md(shown)} |")
        lines.append("")
    for m in f.evidence.get("merged", ()):  # same advice from another rule (checker.merge)
        label = _md((m.get("source") or {}).get("label") or "medcheck")
        lines += [f"Same advice from `{m['rule']}` ({m['severity']}): {_md(m['message'])} Source: {label}"]
        lines.append("")
    seen: dict[str, Owner] = {o.ref: o for o in involved}
    active = [o for o in seen.values() if not o.draft]
    if involved:
        orders = "; ".join(f"{_md(o.label)} ({o.ref}{'' if o.draft else ', active'})" for o in seen.values())
        lines += [f"Orders: {orders}", ""]
    if active:
        counted = "; ".join(f"{_md(o.label)} ({o.ref})" for o in active)
        lines += [f"Counted with the patient's active medications: {counted}", ""]
    src = f.source or {}
    label = src.get("label") or "medcheck"
    lines.append(f"Severity: {f.severity} · category: {f.category} · code: `{f.code}`")
    lines.append(
        f"Source: {_md(label)}"
        + (" (not confirmed against the primary label)" if src.get("verified") is False else "")
    )  # noqa: E501
    lines.append(f"Knowledge version: {version}")
    source: dict[str, Any] = {
        "label": f"{label} · medcheck knowledge {version}",
        "topic": {"system": TOPIC_SYSTEM, "code": f.code, "display": f.category},
    }
    if isinstance(src.get("url"), str) and src["url"].startswith(("https://", "http://")):
        source["url"] = src["url"]
    card: dict[str, Any] = {
        "uuid": _card_uuid(),
        "summary": summarize(f.message),
        "indicator": INDICATOR[f.severity],
        "detail": "\n".join(lines),
        "source": source,
        "extension": {
            "medcheck": {
                "code": f.code,
                "rule": f.rule or f.code,
                "severity": f.severity,
                "category": f.category,
                "orders": refs,
                "activeOrders": sorted(o.ref for o in active),
                "knowledgeVersion": version,
            }
        },  # fmt: skip
    }
    if merged := f.evidence.get("merged"):  # feedback on this card counts for these rules too
        card["extension"]["medcheck"]["mergedRules"] = list(dict.fromkeys(m["rule"] for m in merged))
    if card["indicator"] == "critical":
        card["overrideReasons"] = OVERRIDE_REASONS
    return card


def unchecked_card(ref: str, label: str, reason: str, service_id: str, version: str) -> dict[str, Any]:
    """An order that could not be read: say so, loudly enough not to pass for "all clear"."""
    return {
        "uuid": _card_uuid(),
        "summary": summarize(f"Not checked: {label} — {reason}"),
        "indicator": "warning",
        "detail": f"**{_md(ref)} could not be checked:** {_md(reason)}.\n\n"
        "Its doses and interactions were not checked; review this order by hand.\n\n"
        f"Knowledge version: {version}",
        "source": {"label": f"medcheck · knowledge {version}",
                   "topic": {"system": TOPIC_SYSTEM, "code": "input.unreadable_order", "display": "input"}},
        "extension": {"medcheck": {"code": "input.unreadable_order", "orders": [ref],
                                   "knowledgeVersion": version}},
    }  # fmt: skip


def _ignored_card(name: str, messages: list[str], service_id: str, version: str) -> dict[str, Any]:
    reason = "; ".join(messages)
    return {
        "uuid": _card_uuid(),
        "summary": summarize(f"Patient data ignored: {name} ({reason})"),
        "indicator": "info",
        "detail": f"The prefetched value for **{_md(name)}** could not be used: {_md(reason)}. "
        "Checks that need it report it as unknown.",
        "source": {"label": f"medcheck · knowledge {version}"},
    }


# --- the check ------------------------------------------------------------------------------------


def _field_errors(errors: dict[str, list[str]], prefix: str) -> dict[str, list[str]]:
    return {k.removeprefix(prefix): v for k, v in errors.items()}


def _valid_patient(candidate: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The prefetched patient with any field the schema refuses taken out (and returned)."""
    try:
        load_regimen({"patient": candidate, "medications": []})
        return candidate, {}
    except InvalidRegimen as exc:
        bad = _field_errors(exc.errors, "patient.")
    kept = {k: v for k, v in candidate.items() if k not in bad}
    return kept, bad


def _medication_errors(med: dict[str, Any]) -> dict[str, list[str]]:
    try:
        load_regimen({"medications": [med]})
        return {}
    except InvalidRegimen as exc:
        return _field_errors(exc.errors, "medications.0.")


def _notice(code: str, summary: str, detail: str, indicator: str, refs: list[str], version: str) -> dict:
    """A card about the call itself (an order not checked, not counted, not found)."""
    return {
        "uuid": _card_uuid(),
        "summary": summarize(summary),
        "indicator": indicator,
        "detail": f"{detail}\n\nKnowledge version: {version}",
        "source": {"label": f"medcheck · knowledge {version}",
                   "topic": {"system": TOPIC_SYSTEM, "code": code, "display": "input"}},
        "extension": {"medcheck": {"code": code, "orders": refs, "knowledgeVersion": version}},
    }  # fmt: skip


@dataclass
class _Call:
    """What one call gathers before the engine runs: medications, whose they are, cards so far."""

    meds: list[dict[str, Any]]
    owners: list[Owner]
    cards: list[dict[str, Any]]


def _take(call: _Call, order: fhir.MappedOrder, draft: bool) -> str | None:
    """Add a mapped order's medications; the schema's reasons when one of them cannot be checked."""
    if len(call.meds) + len(order.medications) > MAX_MEDICATIONS:
        return f"over the {MAX_MEDICATIONS} medications one check can hold"
    errors = {k: v for m in order.medications for k, v in _medication_errors(m).items()}
    if errors:
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
    call.meds.extend(order.medications)
    call.owners.extend(Owner(order.ref, order.label, draft) for _ in order.medications)
    return None


def evaluate(call: dict[str, Any], service_id: str, version: str, today: date | None = None) -> list[dict]:
    """The cards for one validated CDS Hooks call."""
    hook = SERVICES[service_id]["hook"]
    ctx = call["context"]
    selected = set(ctx.get("selections") or ()) if hook == "order-select" else None
    got = _Call([], [], [])

    def in_scope(ref: str) -> bool:
        return selected is None or ref in selected

    drafts = list(fhir.draft_orders(ctx["draftOrders"]))
    draft_refs = {d.ref if isinstance(d, fhir.MappedOrder) else d[0] for d in drafts}
    _check_selections(selected, draft_refs)
    if len(drafts) > MAX_MEDICATIONS:
        too_many = f"{len(drafts)} MedicationRequests; at most {MAX_MEDICATIONS} are checked in one call"
        abort(400, message=f"context.draftOrders: {too_many}.", errors={"context.draftOrders": [too_many]})
    for item in drafts:
        if isinstance(item, tuple):
            if in_scope(item[0]):
                got.cards.append(unchecked_card(item[0], item[0], item[1], service_id, version))
        elif (reason := _take(got, item, True)) and in_scope(item.ref):
            got.cards.append(unchecked_card(item.ref, item.label, reason, service_id, version))
    if got.meds:
        _take_active(got, call.get("prefetch"), draft_refs, version)
    patient, refused = fhir.patient_and_refused(call.get("prefetch"), ctx.get("patientId"), today)
    patient, ignored = _valid_patient(patient)
    got.cards.extend(_ignored_card(k, v, service_id, version) for k, v in {**refused, **ignored}.items())
    if not got.meds:
        return got.cards
    report = site_report(load_regimen({"patient": patient, "medications": got.meds}))
    owners = got.owners
    for f in report.findings:
        if f.severity == "info":
            continue  # nothing to act on: a card would only teach clinicians to dismiss cards
        involved = {owners[i].ref for i in f.medications if owners[i].draft}
        if selected is not None and not involved & selected:
            continue
        if selected is None and f.medications and not involved:
            continue
        got.cards.append(finding_card(f, owners, service_id, report.knowledge_version))
    return got.cards


def _check_selections(selected: set[str] | None, draft_refs: set[str]) -> None:
    """order-select: every selection must name a draft order, or nothing would be checked for it."""
    if selected is None:
        return
    missing = sorted(selected - draft_refs)
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        abort(400, message=f"context.selections names orders that are not in context.draftOrders: {shown}",
              errors={"context.selections": [f"not in draftOrders: {r}" for r in missing[:20]]})  # fmt: skip


def _take_active(got: _Call, prefetch: Any, draft_refs: set[str], version: str) -> None:
    """Prefetched active orders join the totals and interactions; one that cannot be read says so."""
    active = [r for r in fhir.active_medications(prefetch) if fhir.reference(r, -1) not in draft_refs]
    skipped: list[str] = []
    for i, res in enumerate(active):
        ref = fhir.reference(res, i)
        try:
            order = fhir.medication_request(res, i)
        except fhir.FhirError as exc:
            skipped.append(f"{ref}: {exc}")
            continue
        if reason := _take(got, order, False):
            skipped.append(f"{ref}: {order.label}: {reason}")
    if skipped:
        refs = [s.split(":", 1)[0] for s in skipped]
        got.cards.append(_notice(
            "input.active_not_counted",
            f"{len(skipped)} active medication order(s) not counted in totals or interactions",
            "These active orders from the patient's medication list could not be read, so daily totals, "
            "opioid MME and interactions were checked without them:\n\n"
            + "\n".join(f"- {_md(s[:300])}" for s in skipped[:20]),
            "warning", refs[:20], version))  # fmt: skip


blp.record_once(cors.enable)
blp.before_app_request(cors.preflight)


# --- views ------------------------------------------------------------------------------------------


@blp.route("")
class Discovery(MethodView):
    @blp.response(200, s.DiscoverySchema)
    def get(self) -> Response:
        """CDS Hooks discovery: the order-select and order-sign services and their prefetch."""
        return jsonify({"services": list(SERVICES.values())})


def _scrub(value: Any) -> Any:
    """Cards quote what the client sent; a lone UTF-16 surrogate in it cannot be UTF-8, so it goes."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _service(service_id: str) -> dict[str, Any]:
    service = SERVICES.get(service_id)
    if service is None:
        abort(404, message=f"No CDS service {service_id!r}; see GET /cds-services.")
        raise AssertionError("abort raises")  # flask-smorest's abort is not typed NoReturn
    return service


# An `any` converter: the ids appear in the OpenAPI document as an enum, and others are a 404.
_SERVICE_ID = "<any(" + ", ".join(f"'{k}'" for k in SERVICES) + "):service_id>"


@blp.route(f"/{_SERVICE_ID}")
class Service(MethodView):
    @blp.arguments(s.CdsRequestSchema(), error_status_code=400, description="A CDS Hooks 2.0 request")
    @blp.response(200, s.CardsSchema)
    @alt_errors(blp, {413: "Body over the size limit", 415: "Body is not application/json",
                      404: "No such service"})  # fmt: skip
    def post(self, call: dict[str, Any], service_id: str) -> Response:
        """Call a service: the draft orders (a FHIR R4 Bundle of MedicationRequest) become cards."""
        service = _service(service_id)
        if call["hook"] != service["hook"]:
            abort(
                400,
                message=f"Service {service_id!r} answers the {service['hook']!r} hook, not {call['hook']!r}.",
            )  # noqa: E501
        if service["hook"] == "order-select" and not call["context"].get("selections"):
            abort(400, message="order-select requires context.selections (e.g. ['MedicationRequest/123']).")
        cards = _scrub(evaluate(call, service_id, knowledge().version))
        note_cards(cards)  # shown counts, and which rule each card showed (for its feedback)
        return jsonify({"cards": cards})


@blp.route(f"/{_SERVICE_ID}/feedback")
class Feedback(MethodView):
    @blp.arguments(s.FeedbackSchema(), error_status_code=400, description="What the clinician did with cards")
    @blp.response(200, s.FeedbackAckSchema)
    @alt_errors(blp, {404: "No such service", 415: "Body is not application/json"})
    def post(self, body: dict[str, Any], service_id: str) -> Response:
        """Record card outcomes (accepted, or overridden with a coded reason) in the database and log."""
        _service(service_id)
        for item in body["feedback"]:
            override = item.get("overrideReason") or {}
            reason = override.get("reason") or {}
            # Structured and one line (logfmt escapes CR/LF); userComment is free text that may
            # name the patient, so it is never logged.
            log.info("cds feedback %s", logfmt(
                service=service_id, card=item["card"], outcome=item["outcome"],
                reason=reason.get("code") or reason.get("display"), at=item["outcomeTimestamp"],
            ))  # fmt: skip
        store_feedback(service_id, body["feedback"])  # codes only: the comment is never stored
        return jsonify({"recorded": len(body["feedback"])})
