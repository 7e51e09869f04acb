"""The pages: check a regimen, browse the formulary and rules, run an audit, sign in.

Server-rendered and complete without JavaScript: every result is the answer to a form post or a
link. Patient data travels only in POST bodies, never in a URL, and nothing here logs it.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from checker.catalogue import drug_detail
from checker.errors import InvalidRegimen
from checker.web import form as regimen_form
from checker.web import security
from checker.web.audit_run import AuditFailed, run_audit
from checker.web.findings import group_findings, readings
from checker.web.report import SEVERITIES, SEVERITY_ICON, render_audit_report, report_csp
from checker.web.wording import readable_summary
from formulary import key
from formulary import load as load_formulary

DEFAULT_AUDIT_UPLOAD_MAX = 64 * 1024 * 1024  # bytes, both files together, inclusive

web = Blueprint(
    "web", __name__, static_folder="static", static_url_path="/assets", template_folder="templates"
)


def upload_limit() -> int:
    configured = current_app.config.get("AUDIT_UPLOAD_MAX") or os.environ.get("MEDCHECK_AUDIT_UPLOAD_MAX")
    return int(configured) if configured else DEFAULT_AUDIT_UPLOAD_MAX


@web.before_request
def _guard() -> BaseResponse | None:
    if request.endpoint == "web.audit" and request.method == "POST":
        request.max_content_length = upload_limit()  # before CSRF reads the form
    return security.guard()


web.after_request(security.headers)
web.add_app_template_filter(readable_summary, "readable_summary")


@web.app_template_filter("size")
def _size(n: int) -> str:
    """Bytes as people read them: "64 MiB (67,108,864 bytes)"."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"



@web.context_processor
def _globals() -> dict[str, Any]:
    return {**security.template_globals(), "knowledge_version": current_app.extensions["medcheck"].version,
            "severity_icon": SEVERITY_ICON}  # fmt: skip


@web.route("/", methods=["GET", "POST"])
def regimen() -> Any:
    if request.method == "GET":
        return _regimen_page(None)
    posted = regimen_form.read_form(request.form)
    if posted.errors:
        return _regimen_page(posted, status=422)
    from checker import check

    try:
        report = check(posted.regimen).to_dict()
    except InvalidRegimen as exc:
        posted.errors = regimen_form.place_errors(exc.errors, posted.lines)
        return _regimen_page(posted, status=422)
    return _regimen_page(posted, report=report)


def _regimen_page(posted: regimen_form.Posted | None, report: dict[str, Any] | None = None,
                  status: int = 200) -> tuple[str, int]:  # fmt: skip
    values = posted.values if posted else {}
    context: dict[str, Any] = {
        "f": regimen_form,
        "values": values,
        "chosen_conditions": set(posted.values.getlist("conditions")) if posted else set(),
        "structured_open": posted is not None and regimen_form.structured_given(posted.values),
        "errors": posted.errors if posted else {},
        "report": report,
    }
    if posted and report:
        context["groups"] = group_findings(report, posted.lines)
        context["readings"] = readings(report, posted.lines)
        context["regimen_json"] = _pretty(posted.regimen)
        context["report_json"] = _pretty(report)
    return render_template("regimen.html", **context), status


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


@web.route("/formulary")
def formulary_index() -> str:
    q = request.args.get("q", "").strip()
    kind = request.args.get("kind", "")
    f = load_formulary()
    wanted = key(q)
    drugs = []
    for d in sorted(f.drugs.values(), key=lambda d: d.name.lower()):
        if kind and d.kind != kind:
            continue
        if wanted and not any(wanted in key(n) for n in (d.id, d.name, *d.brands, *d.synonyms, *d.atc)):
            continue
        drugs.append(d)
    kinds = sorted({d.kind for d in f.drugs.values()})
    return render_template("formulary.html", drugs=drugs, q=q, kind=kind, kinds=kinds, total=len(f.drugs))


@web.route("/formulary/<path:name>")
def formulary_entry(name: str) -> str:
    detail = drug_detail(name)
    if detail is None:
        raise NotFound(f"“{name}” is not in the formulary.")
    return render_template("drug.html", d=detail)


@web.route("/rules")
def rules_index() -> str:
    from checker.catalogue import rule_list

    q = request.args.get("q", "").strip().lower()
    category = request.args.get("category", "")
    severity = request.args.get("severity", "")
    every = rule_list()
    shown = [
        r for r in every
        if (not category or r["category"] == category) and (not severity or r["severity"] == severity)
        and (not q or q in " ".join([r["id"], r["summary"], r["source"], *r["drugs"]]).lower())
    ]  # fmt: skip
    categories = sorted({r["category"] for r in every})
    return render_template("rules.html", rules=shown, total=len(every), q=q, category=category,
                           severity=severity, categories=categories, severities=SEVERITIES)  # fmt: skip


@web.route("/audit", methods=["GET", "POST"])
def audit() -> Any:
    if request.method == "GET":
        return render_template("audit.html", limit=upload_limit(), error=None)
    meds = request.files.get("meds")
    patients = request.files.get("patients")
    if meds is None or not meds.filename:
        return render_template(
            "audit.html", limit=upload_limit(), error="Choose a medications CSV file."
        ), 422
    if patients is not None and not patients.filename:
        patients = None
    try:
        result = run_audit(meds, patients)
    except AuditFailed as exc:
        return render_template("audit.html", limit=upload_limit(), error=str(exc)), 422
    page = render_audit_report(result.findings, {**result.meta, "back_url": url_for("web.audit")})
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = report_csp()
    return response


@web.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    target = security.safe_next(request.values.get("next"))
    if not security.signin_required():
        return redirect(target)
    error = None
    if request.method == "POST":
        error = security.sign_in(request.form.get("api_key", ""))
        if error is None:
            return redirect(target)
    return render_template("signin.html", next=target, error=error), (401 if error else 200)


@web.route("/signout", methods=["POST"])
def signout() -> Any:
    from flask import session

    session.clear()
    return redirect(url_for("web.signin") if security.signin_required() else url_for("web.regimen"))


@web.errorhandler(HTTPException)
def _page_error(error: HTTPException) -> tuple[str, int]:
    """Errors on the pages are pages too (the API keeps its JSON errors)."""
    if isinstance(error, CSRFError):
        message = "The form had expired or did not come from this site. Reload the page and send it again."
    elif isinstance(error, RequestEntityTooLarge):
        message = f"The upload is over the limit of {_size(upload_limit())}."
        if request.endpoint == "web.audit":
            return render_template("audit.html", limit=upload_limit(), error=message), 413
    else:
        message = error.description or error.name
    return render_template(
        "error.html", code=error.code, title=error.name, message=message
    ), error.code or 500
