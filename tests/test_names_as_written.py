"""Product names and sigs as pharmacists and order entry write them, where a misreading changes the
route or the dose: softgels and liquid-gels are swallowed capsules, a percentage is a
concentration (not milligrams), a brand's gel is not its tablet, and "1 po bid" is one of the
product's units."""

from __future__ import annotations

import pytest

from checker import check
from checker.sig import parse_sig
from formulary.unit_text import COUNT_WORDS


def report(*meds: dict) -> dict:
    return check({"patient": {"age_years": 60, "weight_kg": 70}, "medications": list(meds)}).to_dict()


def codes(r: dict) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in r["findings"]}


@pytest.mark.parametrize(
    ("name", "sig", "dose", "daily"),
    [
        ("vitamin D3 5000 IU softgel", "1 daily", "5000 IU", "5000 IU/day"),
        ("fish oil 1000 mg softgels", "2 bid", "2 g", "4 g/day"),
        ("Advil Liqui-Gels 200 mg", "2 caps q6h", "400 mg", "1.6 g/day"),
        ("ibuprofen 200 mg liquid gel capsule", "2 q4h", "400 mg", "2.4 g/day"),
    ],
)
def test_softgels_and_liquid_gels_are_oral_capsules(name: str, sig: str, dose: str, daily: str) -> None:
    r = report({"drug": name, "sig": sig})
    [m] = r["medications"]
    assert (m["route"], m["dose"], m["daily_dose"]) == ("oral", dose, daily)
    assert "input.route_unlabelled" not in codes(r)  # was: "softgel" read as a topical gel


def test_a_vitamin_d_softgel_over_the_upper_limit_is_found() -> None:
    found = codes(report({"drug": "vitamin D3 5000 IU softgel", "sig": "1 daily"}))
    assert found["dose.daily_max"] == "minor"


@pytest.mark.parametrize("name", ["Voltaren gel", "Voltaren 1% gel", "Voltaren 1 % Topical Gel"])
def test_a_brands_gel_is_topical_not_its_tablet(name: str) -> None:
    """4 g of gel four times a day was checked as 16 g/day of oral diclofenac: a major false alarm."""
    r = report({"drug": name, "sig": "4 g qid"})
    assert r["medications"][0]["route"] == "topical"
    assert "dose.daily_max" not in codes(r)
    assert report({"drug": "Voltaren 50 mg tablet", "sig": "1 tab tid"})["medications"][0]["route"] == "oral"


def test_a_percentage_is_not_read_as_milligrams_per_unit() -> None:
    r = report({"drug": "diclofenac 1% gel", "sig": "2 g qid"})
    [m] = r["medications"]
    assert m["route"] == "topical" and "product" not in m  # no "1 mg per unit" product was made up


@pytest.mark.parametrize(
    ("sig", "count", "low", "interval"),
    [
        ("1 po bid", 1, None, 12),
        ("1 bid", 1, None, 12),
        ("take 1 by mouth twice daily", 1, None, 12),
        ("2 q6h", 2, None, 6),
        ("1-2 po q4h prn", 2, 1, 4),
        ("0.5 daily", 0.5, None, 24),
    ],
)
def test_a_bare_count_before_the_route_or_frequency_is_a_count(sig, count, low, interval) -> None:
    [phase] = parse_sig(sig).phases
    assert (phase.dose, phase.dose_low, phase.unit) == (count, low, "each")
    assert phase.frequency is not None and phase.frequency.interval_h == interval


@pytest.mark.parametrize("sig", ["500 bid", "10 daily", "1"])
def test_a_bare_number_that_is_not_a_plausible_count_is_not_read(sig: str) -> None:
    assert all(p.dose is None for p in parse_sig(sig).phases)


def test_one_tablet_twice_daily_of_a_named_product_is_checked_with_its_frequency() -> None:
    """ "naproxen 500 mg tablet" + "1 po bid" was an unread sig: 500 mg once a day was checked."""
    r = report({"drug": "naproxen 500 mg tablet", "sig": "1 po bid"})
    [m] = r["medications"]
    assert (m["dose"], m["daily_dose"], m["interval_h"]) == ("500 mg", "1 g/day", 12)
    assert not {"input.sig_unparsed", "input.count_assumed", "input.frequency_missing"} & set(codes(r))
    over = report({"drug": "naproxen 500 mg tablet", "sig": "2 po tid"})
    assert over["medications"][0]["daily_dose"] == "3 g/day"


def test_a_count_without_a_strength_says_the_dose_was_not_checked() -> None:
    r = report({"drug": "oxycodone", "sig": "1 po q4h"})
    [f] = [f for f in r["findings"] if f["code"] == "unit.dose_form"]
    assert f["severity"] == "moderate"
    assert "1 (a count, no dose form named)" in f["message"]
    assert codes(r)["opioid_load.incomplete"] == "moderate"


def test_ingredient_names_run_together_are_a_combination() -> None:
    """ "glucosamine chondroitin" was an unknown drug, so its warfarin interactions were missed."""
    r = report(
        {"drug": "glucosamine chondroitin", "sig": "1500 mg daily"}, {"drug": "warfarin", "sig": "5 mg daily"}
    )
    assert r["medications"][0]["drug"] == "glucosamine/chondroitin"
    found = codes(r)
    assert found["interaction.glucosamine_warfarin"] == "moderate"
    assert found["input.product_dose"] == "moderate"  # 1500 mg of what: not checked, and said so
    assert (
        report({"drug": "Tylenol Extra Strength", "sig": "2 tabs q6h"})["medications"][0]["drug"]
        == "acetaminophen"
    )
    assert report({"drug": "glucosamine zzz", "sig": "1 daily"})["medications"][0]["drug"] is None


@pytest.mark.parametrize("name", ["ergocalciferol", "vitamin D2", "Drisdol 50,000 unit capsule"])
def test_vitamin_d2_repletion_is_checked_against_the_vitamin_d_limits(name: str) -> None:
    sig = "1 cap weekly" if "capsule" in name else "50000 units weekly"
    r = report({"drug": name, "sig": sig})
    assert r["medications"][0]["drug"] == "vitamin_d2"
    [f] = [f for f in r["findings"] if f["code"] == "dose.daily_max"]
    assert f["severity"] == "minor"
    assert "7143 IU/day" in f["message"]  # whole numbers from 1000, not "7142.857"
    daily = report({"drug": name, "sig": sig.replace("weekly", "daily")})
    assert codes(daily)["dose.daily_max"] == "moderate"


@pytest.mark.parametrize(
    "name",
    [
        "Caltrate 600+D3",
        "Os-Cal 500 + D",
        "calcium carbonate 600 mg with vitamin D",
        "calcium carbonate 600 mg + vitamin D3",
    ],
)
def test_an_ingredient_after_plus_or_with_is_not_dropped(name: str) -> None:
    """The vitamin D of a calcium + D tablet was dropped unread: the order was plain calcium, and an
    antiresorptive was told vitamin D was missing."""
    r = report({"drug": name, "sig": "1 tab bid"}, {"drug": "Xgeva", "sig": "120 mg SC q4w"})
    assert r["medications"][0]["drug"] == "calcium_carbonate/vitamin_d3"
    found = codes(r)
    assert "monitoring.calcium_vitamin_d_with_denosumab" not in found
    assert found["unit.dose_form"] == "moderate"  # the D3 strength is not stated: the dose is not checked


def test_with_food_is_not_an_ingredient() -> None:
    r = report({"drug": "morphine 15 mg ER tablet with food", "sig": "1 tab q12h"})
    assert r["medications"][0]["drug"] == "morphine"
    assert "unrecognized.ingredient" not in codes(r)


def test_a_route_to_be_chosen_at_the_bedside_is_checked_as_the_parenteral_one() -> None:
    """ "PO/IV" was an unknown route, checked as oral: IV morphine is three times oral in MME."""
    r = report({"drug": "morphine", "dose": 10, "unit": "mg", "route": "PO/IV", "frequency": "q4h"})
    assert r["medications"][0]["route"] == "iv"
    [f] = [f for f in r["findings"] if f["code"] == "input.route_either"]
    assert f["severity"] == "minor" and "checked as iv, the parenteral route," in f["message"]
    assert "180 MME/day" in next(f["message"] for f in r["findings"] if f["code"] == "opioid_load.threshold")
    rectal = report({"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "PO/PR", "frequency": "q6h"})
    assert rectal["medications"][0]["route"] == "oral"


def test_an_unknown_route_of_an_opioid_is_moderate() -> None:
    r = report({"drug": "morphine", "dose": 10, "unit": "mg", "route": "by tube", "frequency": "q4h"})
    assert codes(r)["input.route_unknown"] == "moderate"


@pytest.mark.parametrize(
    ("name", "drugs", "release", "line"),
    [
        ("HYDROmorphone (DILAUDID) injection 0.5 mg", "hydromorphone", None, None),
        ("oxyCODONE (ROXICODONE) 5 mg tablet", "oxycodone", "immediate", "oxycodone_ir_tablet"),
        ("oxyCODONE (OXYCONTIN) 10 mg tablet", "oxycodone", "extended", "oxycodone_er_tablet"),
        ("morphine (MS CONTIN) 15 mg tablet", "morphine", "extended", "morphine_er_tablet"),
        ("traMADol (ULTRAM) 50 mg tablet", "tramadol", "immediate", "tramadol_tablet"),
        ("fentaNYL (DURAGESIC) 25 mcg/hr patch", "fentanyl", "extended", "fentanyl_patch"),
        ("HYDROcodone-acetaminophen (NORCO) 5-325 mg per tablet", "hydrocodone/acetaminophen", "immediate",
         "hydrocodone_acetaminophen_tablet"),  # fmt: skip
        ("ondansetron (ZOFRAN-ODT) disintegrating tablet 4 mg", "ondansetron", None, None),
        ("enoxaparin (LOVENOX) injection 40 mg", "enoxaparin", None, None),
        ("dexAMETHasone (DECADRON) 4 mg tablet", "dexamethasone", "immediate", "dexamethasone_tablet"),
    ],
)
def test_epic_display_names_with_the_brand_after_the_generic(name, drugs, release, line) -> None:
    """EHR display names put the brand in parentheses after the generic, in tall-man letters.
    All of these were 'not a drug name the checker knows': dose, interactions and MME unchecked."""
    [m] = report({"drug": name, "sig": "1 dose daily"})["medications"]
    assert (m["drug"], m.get("release"), m.get("product_line")) == (drugs, release, line)


def test_an_epic_opioid_order_counts_in_the_opioid_load() -> None:
    med = {"drug": "HYDROmorphone (DILAUDID) injection 0.5 mg", "sig": "0.5 mg IV every 3 hours as needed"}
    r = report(med)
    assert "unrecognized.drug" not in codes(r)
    [load] = [f for f in r["findings"] if f["category"] == "opioid_load"]
    assert load["evidence"]["actual"] == "80 MME/day"  # 0.5 mg IV every 3 h = 4 mg/day x 20


@pytest.mark.parametrize("name", ["morphine 2 mg/mL injection", "morphine (PF) 4 mg/mL injection"])
def test_an_injection_is_not_the_oral_solution_of_the_same_strength(name: str) -> None:
    """'morphine 2 mg/mL injection' took the curated oral solution of 2 mg/mL: with no route given,
    4 mg every 4 hours counted 24 MME/day as oral morphine instead of 72 as parenteral."""
    r = report({"drug": name, "dose": 4, "unit": "mg", "frequency": "q4h"})
    [m] = r["medications"]
    assert m["route"] == "iv"
    assert codes(r)["input.route_assumed"] == "minor"
    [load] = [f for f in r["findings"] if f["category"] == "opioid_load"]
    assert load["evidence"]["actual"] == "72 MME/day"
    oral = report({"drug": "morphine 2 mg/mL oral solution", "sig": "4 mg q4h"})
    assert oral["medications"][0]["route"] == "oral"


@pytest.mark.parametrize("word", sorted(COUNT_WORDS))
def test_every_count_spelling_is_a_count_in_sigs_the_unit_field_and_products(word: str) -> None:
    """One table (formulary.unit_text.COUNT_WORDS) feeds all three readers: a spelling added there
    is read everywhere, where three hand-kept lists had drifted ("2 troches (200 mcg total)")."""
    from checker.sig import COUNT_UNITS
    from formulary.unit_text import unit_name

    [phase] = parse_sig(f"2 {word} po q6h").phases
    assert (phase.dose, phase.unit in COUNT_UNITS) == (2, True)
    assert unit_name(word) is not None
    [total] = parse_sig(f"Take 2 {word} (10 mg total) every 6 hours").phases
    assert (total.dose, total.unit) == (10, "mg")  # the total, not the total per unit (was 20 mg for troches)
    if COUNT_WORDS[word] == "tablet":  # two of a tablet product's units, whatever the spelling
        [m] = report({"drug": "Percocet 5/325", "dose": 2, "unit": word, "frequency": "q6h"})["medications"]
        assert m["ingredients"][0]["amount"] == "10 mg"


@pytest.mark.parametrize(
    ("name", "drugs", "unread"),
    [
        ("oxycodone 5-325 mg tablet", "oxycodone", True),  # the 325 mg was dropped in silence
        ("hydrocodone 10/325 tab", "hydrocodone", True),  # and this was an extended-release capsule
        ("oxyCODONE (PERCOCET) 5-325 mg tablet", "oxycodone/acetaminophen", False),  # the brand completes it
        ("oxycodone (Percocet) 5 mg", "oxycodone/acetaminophen", False),
    ],
)
def test_a_strength_with_no_ingredient_named_is_never_dropped_in_silence(name, drugs, unread) -> None:
    r = report({"drug": name, "sig": "1 tab po q6h"})
    assert r["medications"][0]["drug"] == drugs
    assert r["medications"][0].get("release") != "extended"
    assert (codes(r).get("unrecognized.ingredient") == "moderate") is unread


@pytest.mark.parametrize(
    "name",
    [
        "cholecalciferol (VITAMIN D3) 25 mcg (1,000 unit) tablet",
        "ergocalciferol 1.25 mg (50,000 unit) capsule",
        "calcium carbonate 1,250 mg (500 mg elemental) tablet",
        "magnesium oxide 400 mg (241.3 mg magnesium) tablet",
        "calcium carbonate (OS-CAL) 500 mg calcium (1,250 mg) tablet",  # 'calcium' was an unknown ingredient
    ],
)
def test_a_strength_restated_in_brackets_is_not_another_ingredient(name: str) -> None:
    r = report({"drug": name, "sig": "1 tab po daily"})
    assert "unrecognized.ingredient" not in codes(r)
