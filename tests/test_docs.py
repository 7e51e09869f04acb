"""The docs a clone of the project carries state the contract the code keeps: every patient and
medication field, every understood condition, every category and severity is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.model import SEVERITIES
from checker.schemas import MedicationSchema, PatientSchema
from formulary import load

DOCS = Path(__file__).resolve().parent.parent / "docs"
CATEGORIES = ("dose_single dose_daily frequency duration course weight_based unit interaction duplication "
              "renal hepatic age condition monitoring opioid_load unrecognized input").split()  # fmt: skip


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(PatientSchema().fields) + sorted(MedicationSchema().fields))
def test_every_regimen_field_is_documented(name):
    assert f"`{name}`" in _text("regimen.md")


@pytest.mark.parametrize("name", sorted(set(load().conditions.values())))
def test_every_understood_condition_is_documented(name):
    assert f"`{name}`" in _text("regimen.md")


@pytest.mark.parametrize("name", [*CATEGORIES, *SEVERITIES])
def test_every_category_and_severity_is_documented(name):
    assert f"`{name}`" in _text("report.md")


def test_the_readme_points_at_docs_inside_the_repository():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme and "docs/regimen.md" in readme
