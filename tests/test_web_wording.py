"""Limits' patient bands in words on the pages, exact about inclusive and exclusive edges."""

from __future__ import annotations

from checker.web.wording import describe_when, readable_summary


def test_bands_in_words_lower_bound_first():
    assert describe_when({"crcl_below": 60.0, "crcl_over": 30.0}) == "CrCl > 30 and < 60 mL/min"
    assert describe_when({"crcl_min": 50.0, "crcl_max": 60.0}) == "CrCl ≥ 50 and ≤ 60 mL/min"
    assert describe_when({"weight_below": 50.0}) == "weight < 50 kg"
    assert describe_when({"hepatic": ["mild", "moderate"]}) == "hepatic impairment mild or moderate"
    assert describe_when({"conditions": ["alcohol_use"], "opioid_tolerant": False}) == (
        "alcohol use; not opioid tolerant"
    )


def test_summary_tail_rewritten_and_other_text_untouched():
    assert readable_summary("max single 3.5 mg (when {'crcl_min': 50.0, 'crcl_max': 60.0})") == (
        "max single 3.5 mg (when CrCl ≥ 50 and ≤ 60 mL/min)"
    )
    assert readable_summary("INR rises when thyroid replacement is increased.") == (
        "INR rises when thyroid replacement is increased."
    )
    assert readable_summary("x (when {broken)") == "x (when {broken)"


def test_no_python_dict_text_on_the_pages():
    from checker.http import create_app

    client = create_app({"TESTING": True}).test_client()
    for path in ("/rules", "/formulary/zoledronic_acid", "/formulary/acetaminophen"):
        page = client.get(path).get_data(as_text=True)
        assert "{&#39;" not in page and "{'" not in page, path
