"""A site layer as the checker uses it: severity changes and suppressions by public rule id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from checker.model import Patient


@dataclass(frozen=True)
class RuleChange:
    """`[[rule]]`: this rule's findings take `severity` at this site."""

    id: str
    severity: str
    reason: str
    author: str
    date: date
    line: int | None = None

    def note(self) -> dict[str, str]:
        return {"reason": self.reason, "author": self.author, "date": self.date.isoformat()}


@dataclass(frozen=True)
class Suppression:
    """`[[suppress]]`: this rule's findings are not shown, everywhere or when the context holds.

    A context holds when every part given holds: the patient has one of `conditions`; the
    patient's age is within [age_min, age_max) (an unknown age is outside every band); one of
    the finding's orders is given by one of `routes`."""

    rule: str
    reason: str
    author: str
    date: date
    conditions: tuple[str, ...] = ()
    age_min: float | None = None
    age_max: float | None = None
    routes: tuple[str, ...] = ()
    line: int | None = None

    @property
    def everywhere(self) -> bool:
        return not self.conditions and self.age_min is None and self.age_max is None and not self.routes

    def holds(self, patient: Patient, conditions: frozenset[str], routes: frozenset[str]) -> bool:
        if self.conditions and not conditions & set(self.conditions):
            return False
        if self.age_min is not None or self.age_max is not None:
            age = patient.age_years
            if age is None:
                return False
            if self.age_min is not None and age < self.age_min:
                return False
            if self.age_max is not None and age >= self.age_max:
                return False
        return not (self.routes and not routes & set(self.routes))

    def context(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.conditions:
            out["conditions"] = list(self.conditions)
        if self.age_min is not None:
            out["age_min"] = self.age_min
        if self.age_max is not None:
            out["age_max"] = self.age_max
        if self.routes:
            out["routes"] = list(self.routes)
        return out

    def note(self) -> dict[str, object]:
        return {"reason": self.reason, "author": self.author, "date": self.date.isoformat(),
                "when": self.context()}  # fmt: skip


@dataclass(frozen=True)
class Site:
    path: str
    digest: str  # sha256 of the file's bytes
    changes: dict[str, RuleChange]
    suppressions: tuple[Suppression, ...]
    local_drugs: tuple[str, ...] = ()
    local_rules: tuple[str, ...] = ()  # rule ids of the site's own interaction rows

    @property
    def tag(self) -> str:
        """What knowledge_version gains: `.site.<8 hex>` after the package's digest."""
        return f".site.{self.digest[:8]}"
