"""Every numeric dose limit in the data, tested at the limit (no finding) and just over (finding)."""

from __future__ import annotations

import pytest

from checker import check
from checker.merge import unmerged
from rules.dose import KINDS, render
from tests.knowledge_cases import limit_cases, medication_for, patient_for

CASES = limit_cases()


def _rendered(drug, lim, attr) -> str:
    kind = next(k for k in KINDS if k.attr == attr)
    return render(kind, getattr(lim, attr), drug.unit_for(lim.routes[0]))


@pytest.mark.parametrize(("case", "drug", "lim", "attr", "code"), CASES, ids=[c[0] for c in CASES])
def test_limit_met_is_not_exceeded(case, drug, lim, attr, code):
    report = check({"patient": patient_for(lim.when), "medications": [medication_for(drug, lim, attr, 1.0)]})
    # A stricter row for the same patient may still fire; this row itself must not.
    hits = [
        f
        for f in unmerged(report.findings)
        if drug.id in f.drugs
        and f.code.startswith(code)
        and f.evidence.get("limit") == _rendered(drug, lim, attr)
    ]
    assert not hits, f"{case}: at the limit, got {[f.message for f in hits]}"


@pytest.mark.parametrize(("case", "drug", "lim", "attr", "code"), CASES, ids=[c[0] for c in CASES])
def test_limit_exceeded_is_flagged(case, drug, lim, attr, code):
    report = check({"patient": patient_for(lim.when), "medications": [medication_for(drug, lim, attr, 1.05)]})
    # a once-daily order over its single limit is over its daily one too: one finding, both rules
    hits = [f for f in unmerged(report.findings) if drug.id in f.drugs and f.code.startswith(code)]
    assert hits, f"{case}: just over the limit, no {code} finding"
    assert all(f.source.get("label") for f in hits)
    assert all(f.evidence.get("actual") and f.evidence.get("limit") for f in hits)


def test_there_are_many_limits():
    assert len(CASES) > 60
