"""Splitting a typed order into the drug and its sig."""

from __future__ import annotations

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
