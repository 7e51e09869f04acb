"""Which orders `rules.opioids.check_opioid_load` reads, for `memo.run_plan` (see `plans`)."""

from __future__ import annotations

import numpy as np

from rules.knowledge import knowledge as rules_knowledge

from .memo import Env, Plan
from .plans import patients_plan


def opioid_plan(env: Env) -> Plan:
    """check_opioid_load reads, per opioid order with a drug: drug id, route, dose (ug/h factors),
    daily amount, unit, index; of the patient, whether a cancer condition is known."""
    know = rules_knowledge()
    rel = np.array([bool(o.drug) and "opioid" in o.classes for o in env.v.orders], dtype=bool)
    cancer = env.facts.has(tuple(know.cancer_conditions)).astype(np.int64)
    return patients_plan(env, rel, lambda o: (o.drug_id, o.route, o.dose, o.daily, o.unit), cancer)
