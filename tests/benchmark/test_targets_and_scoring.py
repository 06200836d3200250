"""Hand-made cases for every quirk of the reference targets, parser and metric (§2c, §3)."""

import pytest

from fsa_distill.benchmark.data import Aspect, Example
from fsa_distill.benchmark.scoring import score, score_pairs
from fsa_distill.benchmark.targets import acsa_target, atsa_target, parse_pairs


def ex(sentence, *aspects, id="1"):
    return Example(id=id, sentence=sentence, aspects=tuple(Aspect(**a) for a in aspects))


def asp(target, pol, start=None, end=None, category=None, ow=None):
    return dict(target=target, category=category, polarity=pol, start=start, end=end, opinion_words=ow)


def test_atsa_orders_by_string_offsets_not_reading_order():
    e = ex("The vibe is nice, the service was great and the food good.",
           asp("vibe", "positive", "4", "8"), asp("service", "positive", "22", "29"),
           asp("food", "positive", "48", "52"))
    # "22" < "4" < "48" as strings: the reference trains on this order.
    assert atsa_target(e) == "service | positive ; vibe | positive ; food | positive"


def test_atsa_int_offsets_sort_numerically_and_implicit_targets_dropped():
    e = ex("Great vibe and service.", asp("service", "positive", 15, 22), asp("vibe", "positive", 6, 10),
           asp(None, "negative"), asp("NULL", "neutral", "0", "0"))
    assert atsa_target(e) == "vibe | positive ; service | positive"


def test_atsa_dedupes_triples_but_keeps_same_term_at_two_offsets():
    e = ex("pizza and more pizza", asp("pizza", "positive", "0", "5"), asp("pizza", "positive", "0", "5"),
           asp("pizza", "positive", "15", "20"))
    assert atsa_target(e) == "pizza | positive ; pizza | positive"


def test_empty_aspects_give_empty_target():
    assert atsa_target(ex("Nothing here.")) == ""
    assert acsa_target(ex("Nothing here.")) == ""


def test_acsa_lowercases_keeps_underscores_order_and_dedupes():
    e = ex("x", asp("NULL", "positive", category="FOOD#STYLE_OPTIONS"),
           asp("a", "negative", category="FOOD#QUALITY"), asp("b", "negative", category="FOOD#QUALITY"),
           asp("c", "positive", category="FOOD#QUALITY"))
    assert acsa_target(e) == "food style_options | positive ; food quality | negative ; food quality | positive"


@pytest.mark.parametrize("seq,expected", [
    ("food | positive ; service | negative", [("food", "positive"), ("service", "negative")]),
    ("food | positive | extra ; service | negative", [("service", "negative")]),   # two '|': dropped
    ("food positive", []),                                                        # no '|': dropped
    ("food | great", []),                                                         # unknown polarity
    ("Food | positive", []),                                                      # substring is case-sensitive
    ("pizza | positive", []),                                                     # not in sentence
    ("  food   |  conflict  ;", [("food", "conflict")]),                          # strip; empty chunk
    (" | positive", [("", "positive")]),                                          # "" is a substring
    ("", []),
])
def test_atsa_parser(seq, expected):
    assert parse_pairs("atsa", seq, "The food and the service.") == expected


def test_acsa_parser_has_no_substring_rule():
    assert parse_pairs("acsa", "made up | positive", "x") == [("made up", "positive")]


def test_list_semantics_duplicates_inflate_precision_and_recall():
    gold = [[("a", "positive"), ("a", "positive")]]
    pred = [[("a", "positive"), ("a", "positive"), ("a", "positive")]]
    m = score_pairs(gold, pred, bootstrap=0)
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)
    m = score_pairs([[("a", "positive")]], [[("a", "positive"), ("a", "positive"), ("b", "negative")]], bootstrap=0)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0


def test_no_predictions_gives_precision_one_and_no_gold_recall_one():
    m = score_pairs([[("a", "positive")]], [[]], bootstrap=0)
    assert m["precision"] == 1.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    m = score_pairs([[]], [[("a", "positive")]], bootstrap=0)
    assert m["recall"] == 1.0 and m["precision"] == 0.0


def test_pairs_only_match_within_their_sentence():
    m = score_pairs([[("a", "positive")], []], [[], [("a", "positive")]], bootstrap=0)
    assert m["precision"] == 0.0 and m["recall"] == 0.0


def test_score_on_raw_strings_and_per_polarity():
    exs = [ex("The food and the service.", asp("food", "positive", "4", "8"), asp("service", "negative", "17", "24"))]
    m = score("atsa", exs, ["food | positive ; service | positive"])
    assert m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["per_polarity"]["positive"]["precision"] == 0.5
    assert m["per_polarity"]["negative"]["recall"] == 0.0
    lo, hi = m["f1_ci95"]
    assert lo <= m["f1"] <= hi


def test_bootstrap_interval_narrows_with_more_sentences():
    gold = [[("a", "positive")]] * 10
    pred = [[("a", "positive")]] * 7 + [[("b", "negative")]] * 3
    small = score_pairs(gold, pred, bootstrap=500)
    big = score_pairs(gold * 20, pred * 20, bootstrap=500)
    assert big["f1"] == pytest.approx(small["f1"])
    assert (big["f1_ci95"][1] - big["f1_ci95"][0]) < (small["f1_ci95"][1] - small["f1_ci95"][0])
