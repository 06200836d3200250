"""The one span matcher, under each of its equivalences."""

import pytest

from fsa_distill.decoding.spans import find_spans, fold_key
from fsa_distill.decoding.text import from_model_text, to_model_text


def test_exact_and_ignore_case_are_non_overlapping_left_to_right():
    text = "Price was fine, the price of wine too. aaaa"
    assert find_spans("price", text) == [(20, 25)]
    assert find_spans("price", text, "ignore-case") == [(0, 5), (20, 25)]
    assert find_spans("aa", text) == [(39, 41), (41, 43)]
    assert find_spans("", text) == []


def test_folded_ignores_case_accents_and_spacing_on_word_boundaries():
    text = "The Crème Brûlée and the Wi-Fi; service was nice."
    assert find_spans("creme brulee", text, "folded") == [(4, 16)]
    assert find_spans("wi - fi", text, "folded") == [(25, 30)]
    assert find_spans("ice", text, "folded") == []          # not inside "service" or "nice"
    assert find_spans("wifi", text, "folded") == []         # punctuation counts here ...
    assert find_spans("wifi", text, "loose") == [(25, 30)]  # ... and not here


def test_fold_key_and_unknown_matching():
    assert fold_key("Wi - Fi") == "wi-fi" and fold_key("Wi - Fi", loose=True) == "wifi"
    with pytest.raises(ValueError, match="unknown match"):
        find_spans("a", "a", "fuzzy")


def test_nl_codec_round_trips():
    text = "first line\nsecond\n\nthird"
    assert "\n" not in to_model_text(text) and from_model_text(to_model_text(text)) == text
