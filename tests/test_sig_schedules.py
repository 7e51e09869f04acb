"""Schedules, caps and numbers that are not doses, as order entry writes them: patch wear time,
PCA lockouts and limits over hours, tapers, repeat doses, hold parameters, fever thresholds, caps
and courses counted in doses, numbers echoed in words. Each shape here was misread or reported as
"not fully checked" before it was read."""

from __future__ import annotations

import pytest

from checker import check
from checker.sig import parse_sig


@pytest.mark.parametrize(
    ("sig", "count", "interval"),
    [
        ("1 patch daily, 12 h on 12 h off", 1, 24),
        ("1 patch 12 hours on, 12 hours off", 1, 24),
        ("Apply 1 patch on for 12 hours, off for 12 hours", 1, 24),
        ("apply 3 patches daily for 12 hours then remove for 12 hours", 3, 24),
        ("Place 3 patches onto the skin daily. Remove and discard patches after 12 hours.", 3, 24),
        ("Apply 1 patch onto the skin daily. Remove & Discard patch within 12 hours", 1, 24),
    ],
)
def test_patch_wear_time_is_not_a_dose(sig: str, count: int, interval: int) -> None:
    """Lidocaine patches are worn 12 hours on, 12 off: the hours are wear time. Every such order was
    'not fully checked' (moderate); an on/off cycle with no frequency is one application per cycle."""
    s = parse_sig(sig)
    [phase] = s.phases
    assert (phase.dose, phase.unit, phase.frequency.interval_h) == (count, "patch", interval)
    assert s.dose_unparsed == ()
    r = check({"medications": [{"drug": "Lidoderm", "sig": sig}]}).to_dict()
    assert not [f for f in r["findings"] if f["code"].startswith("input.sig")]


@pytest.mark.parametrize(
    ("sig", "interval_h", "cap"),
    [
        ("PCA: 1 mg IV demand dose, lockout 10 min, 4-hour limit 20 mg", 1 / 6, (120, "mg")),
        ("PCA 0.2 mg demand, lockout 10 minutes, 1 hour max 1.2 mg", 1 / 6, (28.8, "mg")),
        ("morphine PCA demand 1 mg lockout 8 min 4 hr limit 30 mg", 8 / 60, (180, "mg")),
        ("5 mg po q2h prn, max 20 mg per 8 hours", 2, (60, "mg")),
    ],
)
def test_pca_lockouts_and_caps_over_hours(sig: str, interval_h: float, cap: tuple) -> None:
    """A PCA's lockout is its interval (on demand) and an hourly limit is a cap: both were words
    'that could change the dose' (moderate), and the opioid load counted one demand dose a day."""
    s = parse_sig(sig)
    [phase] = s.phases
    assert phase.frequency.interval_h == pytest.approx(interval_h, rel=1e-6)
    assert s.prn and s.max_daily == (pytest.approx(cap[0]), cap[1])
    assert s.dose_unparsed == ()


@pytest.mark.parametrize(
    ("drug", "sig", "daily"),
    [
        ("acetaminophen", "1.5 g po q4h x 1 day, then 500 mg po q6h", "9 g/day"),  # taper: the first day
        ("gabapentin", "300 mg po tid x 3 days then 600 mg po tid", "1.8 g/day"),  # titration: the last
        ("dexamethasone", "10 mg IV bolus then 4 mg IV q6h", "16 mg/day"),  # a one-off bolus is no day
    ],
)
def test_the_daily_total_of_a_taper_is_its_heaviest_day(drug: str, sig: str, daily: str) -> None:
    """The daily total was the last step's: 9 g of acetaminophen on day 1 read as 2 g/day."""
    r = check({"patient": {"age_years": 60}, "medications": [{"drug": drug, "sig": sig}]}).to_dict()
    assert r["medications"][0]["daily_dose"] == daily


@pytest.mark.parametrize(
    "sig", ["10 mg po q4h max 0 mg/day", "10 mg po q4h, 4-hour limit 0 mg", "10 mg po q4h max 0/day"]
)
def test_a_cap_of_zero_does_not_zero_the_dose(sig: str) -> None:
    """'max 0 mg/day' made the daily total 0 mg/day: the dose passed every limit in silence."""
    r = check({"medications": [{"drug": "morphine", "sig": sig}]}).to_dict()
    assert r["medications"][0]["daily_dose"] == "60 mg/day"
    assert any(f["code"] == "input.sig_dose_unclear" for f in r["findings"])


@pytest.mark.parametrize(
    ("sig", "daily"),
    [
        ("10 mg po q4h prn, may repeat x1 in 1 hour", "120 mg/day"),  # two doses per 4 h
        ("10 mg po q4h prn; hold for RR<12 or sedation", "60 mg/day"),
        ("10 mg po q4h prn hold if SBP < 90, max 30 mg/day", "30 mg/day"),  # the cap after it is kept
        ("10 mg po q6h prn. Do not give if RR < 10", "40 mg/day"),
    ],
)
def test_repeat_doses_and_hold_parameters(sig: str, daily: str) -> None:
    """'may repeat x1' was a one-dose course (10 mg/day); a hold parameter's vital sign was a number
    'that could change the dose' (moderate) on every such opioid order."""
    r = check({"medications": [{"drug": "morphine", "sig": sig}]}).to_dict()
    assert r["medications"][0]["daily_dose"] == daily
    assert not [f for f in r["findings"] if f["code"].startswith("input.sig")]


@pytest.mark.parametrize(
    ("sig", "interval_h"),
    [
        ("Inject 120 mg under the skin every 28 (twenty-eight) days.", 672),
        ("Infuse 4 mg into a venous catheter every 28 (twenty-eight) days over 15 minutes.", 672),
        ("Take 1 tablet by mouth every 14 (fourteen) days", 336),
        ("Take 1 tablet by mouth every 21 (twenty one) days", 504),
    ],
)
def test_any_number_an_e_prescription_echoes_in_words(sig: str, interval_h: int) -> None:
    """Only a few echoed numbers were known: 'every 28 (twenty-eight) days', Epic's own wording of
    every denosumab and zoledronic acid order, left the frequency unread (moderate 'not checked')."""
    s = parse_sig(sig)
    assert s.phases[0].frequency.interval_h == interval_h and s.dose_unparsed == ()


@pytest.mark.parametrize(
    ("sig", "cap", "course"),
    [
        ("10 mg po q4h max 6 doses per day", (60, "mg"), None),
        ("2 tabs q4h, max 4 doses/day", (8, "tab"), None),  # doses of two tablets: the larger reading
        ("Place 1 tablet (0.4 mg total) under the tongue every 5 (five) minutes. Max 3 doses.", None, 3),
        ("2 mg IV q5min prn, up to 3 doses", None, 3),
    ],
)
def test_caps_and_courses_counted_in_doses(sig: str, cap, course) -> None:
    """'max 6 doses per day' and 'Max 3 doses.' were words 'that could change the dose' (moderate)."""
    s = parse_sig(sig)
    assert (s.max_daily, s.course_doses, s.dose_unparsed) == (cap, course, ())


@pytest.mark.parametrize(
    "sig",
    [
        "Apply 3 patches topically daily. Apply for up to 12 hours within a 24 hour period.",
        "Take 650 mg by mouth every 6 hours as needed for pain or temp > 38.5",
        "650 mg po q6h prn fever over 101 F",
    ],
)
def test_wear_windows_and_fever_thresholds_are_not_doses(sig: str) -> None:
    """The lidocaine label's 'up to 12 hours within a 24 hour period' and a fever threshold were
    numbers 'that could change the dose' (moderate)."""
    assert parse_sig(sig).dose_unparsed == ()
