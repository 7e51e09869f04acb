"""Splitting a typed order into the drug and its sig."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.web.lines import split_line, split_lines


def test_multi_word_name_wins_over_its_first_word():
    line = split_line("zoledronic acid 4 mg IV q4 weeks")
    assert (line.drug, line.sig, line.read) == ("zoledronic acid", "4 mg IV q4 weeks", True)


def test_brand_names_and_case():
    line = split_line("TYLENOL 1 g PO q6h PRN pain")
    assert (line.drug, line.sig, line.read) == ("TYLENOL", "1 g PO q6h PRN pain", True)


def test_unknown_drug_is_not_read_but_kept_whole():
    line = split_line("Frobnicol 5/325 1-2 tabs PO q4-6h PRN pain")
    assert not line.read
    assert line.drug == "Frobnicol" and line.sig == "5/325 1-2 tabs PO q4-6h PRN pain"
    assert line.medication() == {"drug": "Frobnicol", "sig": "5/325 1-2 tabs PO q4-6h PRN pain"}


def test_name_alone_has_no_sig():
    assert split_line("gabapentin").medication() == {"drug": "gabapentin"}


def test_lines_numbered_as_typed_blank_lines_skipped():
    lines = split_lines("gabapentin 300 mg PO TID\n\n  \nibuprofen 400 mg PO q6h\r\n")
    assert [(ln.number, ln.drug) for ln in lines] == [(1, "gabapentin"), (4, "ibuprofen")]


@given(st.text(max_size=120))
def test_any_text_splits_without_losing_words(text):
    for line in split_lines(text):
        assert line.drug
        assert (line.drug + " " + line.sig).split() == line.text.split()


@pytest.mark.parametrize(
    ("text", "drug", "sig"),
    [
        ("Voltaren gel 4 g qid", "Voltaren gel", "4 g qid"),
        ("Caltrate 600+D3 1 tab bid", "Caltrate 600+D3", "1 tab bid"),
        ("naproxen 500 mg tablet 1 po bid", "naproxen 500 mg tablet", "1 po bid"),
        ("oxycodone-acetaminophen 5-325 mg 1-2 tabs q4h prn pain", "oxycodone-acetaminophen 5-325 mg",
         "1-2 tabs q4h prn pain"),
        ("glucosamine chondroitin 1500 mg daily", "glucosamine chondroitin", "1500 mg daily"),
        ("Tylenol 650 mg q6h", "Tylenol", "650 mg q6h"),
        ("morphine 30 mg PO q12h ER", "morphine", "30 mg PO q12h ER"),
    ],
)  # fmt: skip
def test_a_product_name_goes_with_the_drug_not_into_the_sig(text, drug, sig):
    """The page split "Voltaren gel 4 g qid" as Voltaren + "gel 4 g qid": 16 g/day of oral
    diclofenac, a major false alarm; and "Caltrate 600+D3" lost its vitamin D to the sig."""
    line = split_line(text)
    assert (line.drug, line.sig, line.read) == (drug, sig, True)
