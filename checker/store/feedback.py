"""Feedback and outcomes written, and the per-rule summary read back.

Only codes are kept: an override reason that is not a plain code (letters, digits, `.-_:`,
up to 64) is stored as `other`, and comments are never stored, so no free text (which can name
a patient) reaches the database.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import func, insert, select

from checker.store.db import Store
from checker.store.tables import Card, CardMerged, Feedback, Outcome, Shown

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
FEEDBACK_OUTCOMES = ("accepted", "overridden")
PAGE_OUTCOMES = ("acted_on", "overridden")
UNSPECIFIED = "unspecified"


def reason_code(code: str | None) -> str | None:
    if code is None or code == "":
        return None
    return code if _CODE.match(code) else "other"


def utc_naive(at: datetime | None) -> datetime:
    at = at or datetime.now(UTC)
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


@dataclass(frozen=True)
class FeedbackItem:
    card: str
    outcome: str  # accepted | overridden
    reason: str | None = None
    at: datetime | None = None
    rule: str | None = None


def record_feedback(store: Store, service: str, items: Iterable[FeedbackItem]) -> int:
    rows = [
        {"at": utc_naive(i.at), "service": service[:64], "card": i.card[:200], "rule": i.rule,
         "outcome": i.outcome, "reason": reason_code(i.reason) if i.outcome == "overridden" else None}
        for i in items if i.outcome in FEEDBACK_OUTCOMES
    ]  # fmt: skip
    if rows:
        with store.engine.begin() as conn:
            conn.execute(insert(Feedback), rows)
    return len(rows)


def record_outcome(store: Store, rule: str, outcome: str, reason: str | None = None,
                   merged: Iterable[str] = ()) -> int:  # fmt: skip
    """One outcome of a finding, recorded for `rule` and for each rule merged into the finding
    (its `evidence.merged`), each rule once; returns how many rules it was recorded for."""
    if outcome not in PAGE_OUTCOMES:
        raise ValueError(f"outcome must be one of {PAGE_OUTCOMES}")
    code = reason_code(reason) if outcome == "overridden" else None
    at = utc_naive(None)
    rules = dict.fromkeys(r[:200] for r in (rule, *merged))
    rows = [{"at": at, "rule": r, "outcome": outcome, "reason": code} for r in rules]
    with store.engine.begin() as conn:
        conn.execute(insert(Outcome), rows)
    return len(rules)


def summary(store: Store, since: date) -> list[dict]:
    """Per rule since `since` (a UTC day): shown, accepted, overridden, override rate, reasons.

    Accepted counts CDS cards accepted and findings acted on in the pages; overridden both kinds
    of override. The rate is overridden over showings (or over answers, when more answers than
    recorded showings arrived), so it stays within 0-1.

    A merged finding (checker.merge) stands for several rules: each was counted shown once per
    finding shown, and an answer to it counts once for each of its rules (a card's other rules
    are in `card_merged`), so a rule's rate is per finding that showed it, whether its own or
    one it was merged into."""
    start = datetime.combine(since, time())
    shown: Counter[str] = Counter()
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    rule_of_card = func.coalesce(Feedback.rule, Card.rule, "unknown")
    with store.engine.connect() as conn:
        for rule, n in conn.execute(
            select(Shown.rule, func.sum(Shown.count)).where(Shown.day >= since).group_by(Shown.rule)
        ):
            shown[rule] += int(n or 0)
        fb = (
            select(rule_of_card, Feedback.outcome, Feedback.reason, func.count())
            .select_from(Feedback)
            .outerjoin(Card, Card.uuid == Feedback.card)
            .where(Feedback.at >= start)
            .group_by(rule_of_card, Feedback.outcome, Feedback.reason)
        )
        page = (
            select(Outcome.rule, Outcome.outcome, Outcome.reason, func.count())
            .where(Outcome.at >= start)
            .group_by(Outcome.rule, Outcome.outcome, Outcome.reason)
        )
        also = (  # the card's other rules (merged findings), each once, never its own rule again
            select(CardMerged.rule, Feedback.outcome, Feedback.reason, func.count())
            .select_from(Feedback)
            .join(CardMerged, CardMerged.uuid == Feedback.card)
            .outerjoin(Card, Card.uuid == Feedback.card)
            .where(Feedback.at >= start, CardMerged.rule != rule_of_card)
            .group_by(CardMerged.rule, Feedback.outcome, Feedback.reason)
        )
        for query in (fb, also, page):
            for rule, outcome, reason, n in conn.execute(query):
                kind = "overridden" if outcome == "overridden" else "accepted"
                answers[rule][kind] += n
                if kind == "overridden":
                    reasons[rule][reason or UNSPECIFIED] += n
    out = []
    for rule in sorted(set(shown) | set(answers)):
        accepted, overridden = answers[rule]["accepted"], answers[rule]["overridden"]
        base = max(shown[rule], accepted + overridden)
        out.append({
            "rule": rule, "shown": shown[rule], "accepted": accepted, "overridden": overridden,
            "override_rate": round(overridden / base, 4) if base else 0.0,
            "reasons": [{"code": c, "count": n}
                        for c, n in sorted(reasons[rule].items(), key=lambda cn: (-cn[1], cn[0]))],
        })  # fmt: skip
    return out
