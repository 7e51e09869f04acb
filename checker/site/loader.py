"""Reading a site file (MEDCHECK_SITE or --site) with the strictness of the packaged knowledge.

Every table and key is checked; rule ids must be ids `GET /v1/rules` lists (local drugs' dose
limits included); a problem stops the start with the file, the line and the entry named.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from checker.model import SEVERITIES
from checker.site.model import RuleChange, Site, Suppression

TABLES = ("rule", "suppress", "drug", "source", "interaction")


class SiteError(RuntimeError):
    """The site file cannot be used; the message names the file, line and entry."""


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _dated(value: Any) -> date:
    if isinstance(value, date):
        return value
    raise ValidationError("a TOML date, e.g. 2026-12-01")


class _Signed(_Strict):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))
    author = fields.String(required=True, validate=validate.Length(min=2, max=200))
    date = fields.Raw(required=True)

    @validates_schema
    def _date(self, data: dict[str, Any], **_: Any) -> None:
        if "date" in data:
            try:
                _dated(data["date"])
            except ValidationError as exc:
                raise ValidationError({"date": exc.messages}) from None


class RuleSchema(_Signed):
    id = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))


class WhenSchema(_Strict):
    conditions = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))
    age_min = fields.Float(validate=validate.Range(min=0, max=130))
    age_max = fields.Float(validate=validate.Range(min=0, max=130))
    routes = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))
    route = fields.String()

    @validates_schema
    def _band(self, data: dict[str, Any], **_: Any) -> None:
        if "age_min" in data and "age_max" in data and data["age_min"] >= data["age_max"]:
            raise ValidationError({"age_max": ["must be above age_min"]})
        if not data:
            raise ValidationError("an empty `when` would suppress everywhere; leave `when` out for that")


class SuppressSchema(_Signed):
    rule = fields.String(required=True)
    when = fields.Nested(WhenSchema)


def _lines(text: str, table: str) -> list[int]:
    """The line of each `[[table]]` header, in order (entry n is the nth header)."""
    pattern = re.compile(rf"^\s*\[\[\s*{table}\s*\]\]")
    return [i for i, line in enumerate(text.splitlines(), 1) if pattern.match(line)]


def _where(path: Path, table: str, n: int, lines: list[int], entry: dict[str, Any]) -> str:
    at = f", line {lines[n]}" if n < len(lines) else ""
    name = (entry.get("id") or entry.get("rule")) if isinstance(entry, dict) else None
    return f"{path}{at}: [[{table}]] #{n + 1}" + (f" ({name})" if name else "")


def _flat(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_flat(v)}" if k != "_schema" else _flat(v) for k, v in messages.items())
    if isinstance(messages, list):
        return " ".join(_flat(m) for m in messages)
    return str(messages)


def load_site(path: str | Path) -> Site:
    """Read, validate and resolve a site file. Local drugs are handed to the formulary first, so
    their dose limits have rule ids the rest of the file may use."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SiteError(f"cannot read site file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise SiteError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(f"{path}: {exc}") from None
    if unknown := sorted(set(data) - set(TABLES)):
        raise SiteError(f"{path}: unknown table(s) {unknown}; a site file holds {', '.join(TABLES)}")
    for table in ("rule", "suppress", "drug", "interaction"):
        if not isinstance(data.get(table, []), list):
            raise SiteError(f"{path}: `{table}` must be an array of tables: write [[{table}]]")
    local_drugs = _local_drugs(path, text, data)
    ids = _rule_ids()
    changes: dict[str, RuleChange] = {}
    lines = _lines(text, "rule")
    for n, entry in enumerate(data.get("rule", [])):
        where = _where(path, "rule", n, lines, entry)
        v = _valid(RuleSchema(), entry, where)
        _known(v["id"], ids, where)
        if v["id"] in changes:
            raise SiteError(f"{where}: rule {v['id']!r} already changed at line {changes[v['id']].line}")
        line = lines[n] if n < len(lines) else None
        changes[v["id"]] = RuleChange(v["id"], v["severity"], v["reason"], v["author"], v["date"], line)
    suppressions = []
    lines = _lines(text, "suppress")
    for n, entry in enumerate(data.get("suppress", [])):
        where = _where(path, "suppress", n, lines, entry)
        v = _valid(SuppressSchema(), entry, where)
        _known(v["rule"], ids, where)
        suppressions.append(_suppression(v, lines[n] if n < len(lines) else None, where))
    local_rows = tuple(f"interaction.{r.get('id')}" for r in data.get("interaction", []))
    return Site(str(path), hashlib.sha256(raw).hexdigest(), changes, tuple(suppressions), local_drugs,
                local_rows)


def _valid(schema: Schema, entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise SiteError(f"{where}: expected a table")
    try:
        return schema.load(entry)
    except ValidationError as exc:
        raise SiteError(f"{where}: {_flat(exc.messages)}") from None


def _known(rule: str, ids: set[str], where: str) -> None:
    if rule not in ids:
        near = difflib.get_close_matches(rule, sorted(ids), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise SiteError(f"{where}: no rule {rule!r} in `medcheck rules`{hint}")


def _suppression(v: dict[str, Any], line: int | None, where: str) -> Suppression:
    from formulary import key
    from formulary import load as load_formulary

    f = load_formulary()
    when = v.get("when") or {}
    routes = [*when.get("routes", ()), *([when["route"]] if "route" in when else [])]
    canonical = []
    for r in routes:
        c = f.route(r)
        if c is None:
            raise SiteError(f"{where}: when.routes: unknown route {r!r}")
        canonical.append(c)
    conditions = tuple(f.conditions.get(key(c)) or condition_id(c) for c in when.get("conditions", ()))
    return Suppression(
        rule=v["rule"], reason=v["reason"], author=v["author"], date=v["date"],
        conditions=conditions, age_min=when.get("age_min"), age_max=when.get("age_max"),
        routes=tuple(sorted(set(canonical))), line=line,
    )  # fmt: skip


def condition_id(text: str) -> str:
    """A condition the vocabulary does not list, as the patient's conditions are compared."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _local_drugs(path: Path, text: str, data: dict[str, Any]) -> tuple[str, ...]:
    drugs, rows = data.get("drug", []), data.get("interaction", [])
    if not drugs and not rows and not data.get("source"):
        return ()
    import formulary
    from formulary import KnowledgeError
    from rules import loader as rules_loader

    local = (path.name, {"drug": drugs, "source": data.get("source", {})})
    if local in formulary._LOCAL:  # the same file loaded again (a second app in one process)
        return tuple(str(d.get("id")) for d in drugs)
    formulary.add_local(*local)
    if rows:
        rules_loader.add_local(path.name, {"interaction": rows})
    _forget_loaded_knowledge()
    try:
        from rules.knowledge import knowledge

        knowledge()  # the formulary with the local drugs, then the rules with the local rows
    except KnowledgeError as exc:
        message = _at_line(str(exc), text, data)
        formulary._LOCAL.clear()
        rules_loader._LOCAL.clear()
        _forget_loaded_knowledge()
        raise SiteError(f"{path}: {message}") from None
    return tuple(str(d.get("id")) for d in drugs)


def _at_line(message: str, text: str, data: dict[str, Any]) -> str:
    """The knowledge loaders name an entry by number ("drug #2") or id ("[my_drug]"): add its line."""
    for table in ("drug", "interaction"):
        lines = _lines(text, table)
        for n, entry in enumerate(data.get(table, [])):
            ident = entry.get("id") if isinstance(entry, dict) else None
            by_id = bool(ident) and (f"[{ident}]" in message or f"({ident})" in message)
            named = f"{table} #{n} " in message or by_id
            if named and n < len(lines):
                return f"line {lines[n]}: [[{table}]] #{n + 1}: {message}"
    return message


def _forget_loaded_knowledge() -> None:
    """Knowledge built from the formulary before the local drugs joined it is built again."""
    import formulary
    from checker import engine
    from rules import knowledge

    formulary.load.cache_clear()
    knowledge.knowledge.cache_clear()
    engine.knowledge_version.cache_clear()
    engine._MEMOS.clear()


def _rule_ids() -> set[str]:
    from checker.catalogue import rule_list

    return {r["id"] for r in rule_list()}
