"""Post-processing on the real recorded Mixtral answers of the shipped sample."""

from collections import Counter

import pytest

from fsa_distill.teacher.backends.replay import infer_kind
from fsa_distill.teacher.postprocess import clean_response, judge, looks_english, parse_analysis

DROP = ["empty", "truncated", "error", "wrong_language", "unparsed", "wrong_format"]


@pytest.fixture(scope="module")
def judged(sample_rows):
    return [(r, infer_kind(r["mixtral_response"]),
             judge(r["Text"], infer_kind(r["mixtral_response"]), r["mixtral_response"], "stop", DROP))
            for r in sample_rows]


def by_id(judged, rid):
    return next(v for r, _, v in judged if r["ID"] == rid)


def test_sample_kinds_and_overall_verdicts(judged):
    kinds = Counter(k for _, k, _ in judged)
    assert kinds == {"analysis": 234, "rewrite": 266}
    ok = Counter((k, v.ok) for _, k, v in judged)
    # Every rewrite survives; the analyses that fail are the three with no readable block.
    assert ok[("rewrite", True)] == 266
    assert ok[("analysis", False)] == 3
    parsed = [len(v.parsed) for _, k, v in judged if k == "analysis" and v.parsed]
    assert 3.5 < sum(parsed) / len(parsed) < 4.5  # the reference reports 3.8 targets per review


def test_junk_blocks_are_stripped_everywhere(judged):
    for _, _, v in judged:
        for junk in ("Confidence:", "Consent:", "\nNote:", "\nReview:", "To test your algorithm"):
            assert junk not in v.response, junk
        assert v.response == v.response.strip()


def test_confidence_tail_on_a_rewrite():
    raw = " I loved the case.\n\nConfidence: 90%"
    text, flags = clean_response(raw, "rewrite")
    assert text == "I loved the case." and flags == ["junk_stripped"]


def test_consent_and_id_tail_cut(sample_rows):
    r = next(r for r in sample_rows if "Consent:" in r["mixtral_response"])
    text, flags = clean_response(r["mixtral_response"], "analysis")
    assert "Consent" not in text and "ID:" not in text and "junk_stripped" in flags
    assert text.endswith("negative sentiment about one of the features.")


def test_invented_second_review_is_cut(judged, sample_rows):
    # 385262 goes on with "Review: such a waste of money!" and analyses that made-up review.
    v = by_id(judged, 385262)
    assert "waste of money" not in v.response and "junk_stripped" in v.flags


def test_restarted_numbering_is_cut(judged):
    v = by_id(judged, 2711897)  # repeats "Opinion Target 1" after "..."
    assert v.response.count("Opinion Target 1:") == 1


def test_parse_standard_block(judged):
    v = by_id(judged, 1691111)
    assert [(t["target"], t["aspect"], t["sentiment"]) for t in v.parsed] == [
        ("Margaritas", "Drink, Quality/Taste", "Very Positive"),
        ("Food", "Food, Quality/Taste", "Neutral"),
        ("Chips and salsa", "Menu items, Quality/Taste", "Positive")]
    assert v.parsed[0]["reasoning"].startswith('The phrase "off-the-charts 5"')
    assert v.ok and "target_not_in_review" not in v.flags


def test_parse_variants_numbered_aspects_and_inline_fields(judged):
    v = by_id(judged, 4508256)  # one target, "Aspect 1:" and "Aspect 2:" groups
    assert [t["sentiment"] for t in v.parsed] == ["Positive", "Positive"]
    assert {t["target"] for t in v.parsed} == {"wireless router"}
    v = by_id(judged, 2109384)  # 'Opinion Target 1: "x" -- Aspect: ... -- Sentiment: ...'
    assert v.parsed[0]["target"] == "this thing" and v.parsed[0]["aspect"] == "Sound Quality"
    v = by_id(judged, 939963)  # '"materials", Aspect: ..., Sentiment: ...'
    assert v.parsed[0]["target"] == "materials" and v.parsed[0]["sentiment"] == "Positive"


def test_implicit_is_the_teachers_own_word(judged):
    v = by_id(judged, 3110176)  # "The sentiment is conveyed implicitly ..."
    assert v.parsed[0]["implicit"] is True
    assert by_id(judged, 1691111).parsed[0]["implicit"] is False


def test_placeholders_and_empty_fields_are_not_tuples(judged):
    v = by_id(judged, 1506331)  # third block is "(your own analysis here)"
    assert len(v.parsed) == 2 and "partial_parse" in v.flags
    v = by_id(judged, 4173278)  # targets with empty Aspect/Sentiment lines
    assert not v.ok and v.drops == ["unparsed"]


def test_foreign_fragment_flagged_not_dropped(judged):
    v = by_id(judged, 1716025)  # "Aspect: Location, Править: Convenience"
    assert "foreign_fragment" in v.flags and v.ok


def test_target_not_in_review_is_a_flag():
    v = judge("The staff was friendly.", "analysis",
              'Opinion Target 1: "the chef"\nAspect: Service\nSentiment: Positive\nReasoning: implied.', "stop", DROP)
    assert v.ok and "target_not_in_review" in v.flags and v.parsed[0]["implicit"]


def test_checks_that_drop():
    assert judge("r", "rewrite", "   ", "stop", DROP).drops == ["empty"]
    assert judge("nice", "rewrite", "I liked it a lot", "length", DROP).drops == ["truncated"]
    assert judge("nice", "rewrite", "", "error", DROP, error="HTTP 400: too long").drops == ["error", "empty"]
    german = "Das Essen war sehr gut und die Bedienung ist nicht schlecht, aber der Preis ist hoch und wir sind nicht zufrieden."
    assert judge("nice", "rewrite", german, "stop", DROP).drops == ["wrong_language"]
    assert judge("nice", "rewrite", 'Opinion Target 1: "x"\nAspect: a\nSentiment: Positive', "stop", DROP).drops == ["wrong_format"]
    # a check not listed in drop only flags
    v = judge("nice", "rewrite", "I liked it", "length", ["empty"])
    assert v.ok and "truncated" in v.flags


def test_language_heuristic():
    assert looks_english("Opinion Target 1: \"Delicious\"\nAspect: Food\nSentiment: Positive")
    assert not looks_english("Привет, как дела? Всё хорошо, спасибо.")
    assert not looks_english("Le service était très lent et les plats sont froids mais le prix est correct pour une fois.")


def test_parse_analysis_counts_bad_blocks():
    tuples, bad = parse_analysis('Opinion Target 1: "a"\nAspect: x\nSentiment: Positive\nReasoning: r\n\n'
                                 'Opinion Target 2: "b"\nAspect: y\n')
    assert [t["target"] for t in tuples] == ["a"] and bad == 1
