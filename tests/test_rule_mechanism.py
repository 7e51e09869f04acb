"""The one rule mechanism (rules/mechanism.py): every evaluator's declaration is complete — reading
anything undeclared fails at once — and minimal — removing any declared read makes the corpus
fail — and memoised findings are the findings a fresh evaluation gives, wherever the unit sits."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from checker.engine import run
from checker.schemas import load_regimen
from formulary import When
from formulary import load as load_formulary
from rules import evaluators
from rules.context import Context
from rules.knowledge import knowledge
from rules.mechanism import FACTS, ContextView, UndeclaredRead, _Read, when_facts

OLD = {"age_years": 82, "weight_kg": 48, "sex": "female", "serum_creatinine": "1.9 mg/dL"}
CORPUS: list[dict] = [
    {"patient": {**OLD, "conditions": ["gi_bleed_history", "bone_metastases", "made_up_condition"]},
     "medications": [
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q4h"},
        {"drug": "Tylenol", "sig": "1 g PO q6h PRN pain", "max_daily_dose": 3, "max_daily_unit": "g"},
        {"drug": "ketorolac", "dose": 30, "unit": "mg", "route": "iv", "frequency": "q4h",
         "duration_days": 7},
        {"drug": "ketorolac", "dose": 10, "unit": "mg", "route": "oral", "frequency": "q6h",
         "duration_days": 4},
        {"drug": "warfarin", "dose": 5, "unit": "mg", "frequency": "daily"},
        {"drug": "ibuprofen", "dose": 800, "unit": "mg", "frequency": "q6h"},
        {"drug": "ibandronate", "dose": 150, "unit": "mg", "route": "oral", "frequency": "monthly"},
        {"drug": "Zzyzx", "atc": "N05BA99", "dose": 5, "unit": "mg", "frequency": "bid"},  # no drug, a class
        {"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},
        {"drug": "oxycodone", "dose": 40, "unit": "mg", "frequency": "q4h"},
        {"drug": "morphine", "sig": "10 mg IV bolus then 4 mg IV every 6 h"},
        {"drug": "gabapentin", "dose": 300, "unit": "mg", "frequency": "tid"},
        {"drug": "pregabalin", "dose": 75, "unit": "mg", "frequency": "bid"},
        {"drug": "lorazepam", "dose": 1, "unit": "mg", "frequency": "q8h"},
        {"drug": "sertraline", "dose": 50, "unit": "mg", "frequency": "daily"},
        {"drug": "tramadol", "dose": 100, "unit": "mg", "frequency": "q4h"},
        {"drug": "clarithromycin", "dose": 500, "unit": "mg", "frequency": "bid"},
        {"drug": "apixaban", "dose": 5, "unit": "mg", "frequency": "bid"},
     ]},
    {"patient": {"age_years": 60, "weight_kg": 70, "qtc_ms": 510, "serum_calcium": "7.5 mg/dL",
                 "platelets": "40 10^9/L", "anc": "0.8 10^9/L", "hemoglobin": "7.9 g/dL",
                 "opioid_tolerant": False, "dental_exam_done": False, "hepatic_impairment": "severe"},
     "medications": [
        {"drug": "radium-223", "dose": 60, "unit": "kBq/kg", "route": "iv", "frequency": "every 4 weeks",
         "dose_number": 7},
        {"drug": "samarium-153", "dose": 1.5, "unit": "mCi/kg", "route": "iv", "frequency": "once"},
        {"drug": "methadone", "dose": 20, "unit": "mg", "frequency": "q8h"},
        {"drug": "ondansetron", "dose": 8, "unit": "mg", "frequency": "q8h"},
        {"drug": "fentanyl", "dose": 50, "unit": "ug/h", "route": "transdermal", "frequency": "q72h"},
        {"drug": "denosumab", "dose": 120, "unit": "mg", "route": "sc", "frequency": "every 4 weeks"},
        {"drug": "acetaminophen", "dose": 15, "unit": "mg/kg", "route": "iv", "frequency": "q6h"},
        {"drug": "dexamethasone", "sig": "10 mg IV bolus then 4 mg IV/PO every 6 h"},
        {"drug": "amitriptyline", "dose": 25, "unit": "mg", "frequency": "qhs"},
        {"drug": "diclofenac", "dose": 50, "unit": "mg", "frequency": "tid"},
     ]},
    {"patient": {"age_years": 50, "crcl_ml_min": 20, "pregnant": True},
     "medications": [
        {"drug": "morphine", "dose": 0.1, "unit": "mg/kg", "route": "iv", "frequency": "q4h"},  # no weight
        {"drug": "ibandronate", "dose": 6, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},
        {"drug": "alendronate", "dose": 70, "unit": "mg", "frequency": "weekly"},
        {"drug": "teriparatide", "dose": 20, "unit": "ug", "route": "sc", "frequency": "daily"},
        {"drug": "vitamin d3", "dose": 50000, "unit": "IU", "frequency": "daily"},
        {"drug": "selenium", "dose": 900, "unit": "ug", "frequency": "daily"},
        {"drug": "curcumin", "dose": 2, "unit": "g", "frequency": "daily"},
        {"drug": "omega-3", "dose": 4, "unit": "g", "frequency": "daily"},
        {"drug": "hydromorphone", "dose": 2, "unit": "mg", "route": "iv", "frequency": "q2h", "prn": True},
        {"drug": "hydromorphone", "dose": 4, "unit": "mg", "route": "oral", "frequency": "q4h"},
        {"drug": "enoxaparin", "dose": 40, "unit": "mg", "route": "sc", "frequency": "daily"},
     ]},
    {"patient": {}, "medications": [
        {"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},
        {"drug": "radium-223", "dose": 55, "unit": "kBq/kg", "route": "iv", "frequency": "every 4 weeks"},
        {"drug": "ketorolac", "dose": 30, "unit": "mg", "route": "iv", "frequency": "q6h"},
        {"drug": "fentanyl", "dose": 25, "unit": "ug/h", "route": "transdermal", "frequency": "q72h"},
        {"drug": "methadone", "dose": 10, "unit": "mg", "frequency": "q8h"},
        {"drug": "metformin", "dose": 500, "unit": "mg", "frequency": "bid"},
     ]},
    {"patient": {"age_years": 45, "weight_kg": 80, "opioid_tolerant": False, "conditions": ["cancer"],
                 "serum_calcium": "12.8 mg/dL"},
     "medications": [  # the safety layer: naive starts, long-acting, implausible doses, salts, naloxone
        {"drug": "hydromorphone", "dose": 8, "unit": "mg", "route": "oral", "frequency": "q4h"},
        {"drug": "OxyContin", "dose": 10, "unit": "mg", "frequency": "q12h"},
        {"drug": "fentanyl", "dose": 25, "unit": "mg/h", "route": "transdermal", "frequency": "q72h"},
        {"drug": "diazepam", "dose": 5, "unit": "mg", "frequency": "bid"},
        {"drug": "calcium carbonate", "dose": 1500, "unit": "mg", "route": "oral", "frequency": "qid"},
        {"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},
     ]},
]  # fmt: skip


def _findings(regimen: dict, rules=None) -> list[dict]:
    return [f.to_dict() for f in run(load_regimen(regimen), rules=rules).findings]


def _without(ev, field: str, name: str):
    kept = tuple(x for x in getattr(ev, field) if x != name)
    return dataclasses.replace(ev, name=f"{ev.name}-without-{name}", **{field: kept})


@pytest.mark.parametrize("regimen", CORPUS, ids=range(len(CORPUS)))
def test_every_evaluator_reads_only_what_it_declares(regimen):
    """The engine builds each unit's input from its declaration: an undeclared read would raise."""
    assert _findings(regimen)


DECLARED = [(ev, fld, name) for ev in evaluators() for fld in ("reads", "facts") for name in getattr(ev, fld)]


@pytest.mark.parametrize("ev, field, name", DECLARED, ids=[f"{e.name}.{f}.{n}" for e, f, n in DECLARED])
def test_every_declared_read_is_needed(ev, field, name):
    """Mutation: drop one declared read and the corpus must fail, so no declaration is padding and a
    read dropped by mistake cannot pass unnoticed."""
    mutated = tuple(_without(e, field, name) if e is ev else e for e in evaluators())
    with pytest.raises(UndeclaredRead):
        for regimen in CORPUS:
            _findings(regimen, mutated)


WHEN_FIELDS = [f.name for f in dataclasses.fields(When)]


@pytest.mark.parametrize("name", WHEN_FIELDS)
def test_when_facts_cover_every_band(name):
    """Every field a limit or caution band can set is matched on the facts `when_facts` names (a new
    field of `When` fails here until the mechanism knows which fact it reads)."""
    value = {"hepatic": ("severe",), "conditions": ("diabetes",), "opioid_tolerant": False,
             "pregnant": True}.get(name, 50.0)  # fmt: skip
    when = When(**{name: value})
    f = load_formulary()
    ctx = Context(patient=load_regimen({"patient": {}, "medications": []}).patient, orders=[], formulary=f,
                  knowledge=knowledge())  # fmt: skip
    names = when_facts(when)
    assert names, f"{name} reads no fact"
    view = ContextView({n: FACTS[n](ctx) for n in names}, f, knowledge(), "test")
    assert view.matches(when) is not True  # nothing known: not met, never an undeclared read


@pytest.mark.parametrize("seed", range(8))
def test_memoised_findings_are_fresh_findings(seed):
    """Units met before at other positions (the memo warm from the regimen in its first order) give
    exactly the report a fresh evaluation gives: what a memo hit returns is remapped, not replayed."""
    regimen = CORPUS[seed % len(CORPUS)]
    meds = list(regimen["medications"])
    random.Random(seed).shuffle(meds)
    shuffled = {**regimen, "medications": meds}
    _findings(regimen)
    warm = _findings(shuffled)
    fresh = tuple(dataclasses.replace(e, name=f"{e.name}-fresh-{seed}") for e in evaluators())
    assert warm == _findings(shuffled, fresh)


def test_production_partition_equals_strict():
    """Under strict reads `units` sees declared views; in production it sees the real orders. The
    same corpus must give the same findings both ways (an attribute only a view has would crash
    production and pass every strict test)."""
    root = Path(__file__).resolve().parents[1]
    script = (
        "import json, sys\n"
        "from checker.engine import run\n"
        "from checker.schemas import load_regimen\n"
        "corpus = json.load(sys.stdin)\n"
        "print(json.dumps([[f.to_dict() for f in run(load_regimen(r)).findings] for r in corpus]))\n"
    )
    env = {**os.environ, "MEDCHECK_STRICT_READS": "0", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", script], input=json.dumps(CORPUS), env=env, cwd=root,
                         capture_output=True, text=True, check=True)  # fmt: skip
    strict = json.loads(json.dumps([_findings(r) for r in CORPUS], default=str))
    assert json.loads(out.stdout) == strict


BAND_PATIENTS = [
    {k: v for k, v in (("weight_kg", w), ("age_years", a), ("crcl_ml_min", c)) if v is not None}
    for w in (None, 40, 49.9, 50, 70) for a in (None, 17, 64, 65, 80) for c in (None, 10, 29.5, 30, 60)
]  # fmt: skip


def test_band_outcomes_key_the_memo_exactly():
    """A band (`ctx.matches`) is memoised on the outcome of its tests, not on the facts' values:
    patients on either side of every weight, age and renal boundary, met in turn with the memo
    warm, get exactly the findings a fresh evaluation gives them."""
    meds = CORPUS[0]["medications"] + CORPUS[-1]["medications"]
    for n, patient in enumerate(BAND_PATIENTS):
        regimen = {"patient": patient, "medications": meds}
        fresh = tuple(dataclasses.replace(e, name=f"{e.name}-band-{n}") for e in evaluators())
        assert _findings(regimen) == _findings(regimen, fresh), patient


def _bands(value, seen: dict[int, When]) -> dict[int, When]:
    """Every `When` in the knowledge, wherever a row keeps it."""
    if isinstance(value, When):
        seen[id(value)] = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _bands(getattr(value, f.name), seen)
    elif isinstance(value, (tuple, list, frozenset, set)):
        for v in value:
            _bands(v, seen)
    elif isinstance(value, dict):
        for v in value.values():
            _bands(v, seen)
    return seen


@pytest.mark.parametrize("patient", BAND_PATIENTS[::7] + [{"conditions": ["cirrhosis", "ckd"],
                         "hepatic_impairment": "severe", "opioid_tolerant": True, "pregnant": False,
                         "qtc_ms": 520, "platelets": "40 10*9/L", "serum_calcium": "7.5 mg/dL",
                         "albumin": "2.1 g/dL"}])  # fmt: skip
def test_a_band_read_as_outcomes_answers_as_its_facts_do(patient):
    """What the memo keys a band on (its tests' outcomes) gives every knowledge band the answer
    and the missing facts that reading the facts themselves gives."""
    f, k = load_formulary(), knowledge()
    ctx = Context(patient=load_regimen({"patient": patient, "medications": []}).patient, orders=[],
                  formulary=f, knowledge=k)  # fmt: skip
    whens = _bands(k, _bands(f.drugs, {}))
    assert len(whens) > 50
    everything = tuple(FACTS)
    for when in whens.values():
        by_outcome = ContextView(_Read(everything, lambda n: FACTS[n](ctx), ctx, "test"), f, k, "test")
        by_facts = ContextView({n: FACTS[n](ctx) for n in everything}, f, k, "test")
        assert by_outcome.matches(when) == by_facts.matches(when), when
        assert by_outcome.missing_for(when) == by_facts.missing_for(when), when


def test_the_memo_is_bounded_and_starting_over_changes_no_finding(monkeypatch):
    """A server or an audit worker checks regimens without end: past its budget the memo starts
    over (its memory stays flat), and what it then answers is what it answered before."""
    import checker.engine as engine
    import rules.mechanism as mechanism

    memo = engine._memo(load_formulary(), knowledge())
    before, alone = [], []
    for r in CORPUS:  # what each regimen adds to an empty memo
        memo.tables.clear()
        before.append(_findings(r))
        alone.append(sum(map(len, memo.tables.values())))
    budget = 40
    monkeypatch.setattr(mechanism, "MEMO_ENTRIES", budget)
    monkeypatch.setattr(mechanism, "MEMO_CHECK_EVERY", 1)
    sizes = []
    for _ in range(3):
        for r, found in zip(CORPUS, before, strict=True):
            assert _findings(r) == found
            sizes.append(sum(map(len, memo.tables.values())))
    assert max(sizes) <= budget + max(alone) < sum(alone)
