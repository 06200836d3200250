"""Silver ATSA labels from teacher analyses, on hand-written analyses in the shipped corpus's layouts."""

from collections import Counter

import pytest

from fsa_distill.benchmark.data import Aspect, Example, parse_records
from fsa_distill.student.pretrain_data import CorpusRecord
from fsa_distill.teacher import silver

REVIEW = ("Tried both types of egg tarts. Flaky shell, delicious filling for both, less than $3 total. "
          "Friendly service. Would return.")
# The shipped layout: numbered targets, quoted, one Aspect/Sentiment/Reasoning each.
NUMBERED = '''Opinion Target 1: "egg tarts"
Aspect: Food, Appearance/Flavor
Sentiment: Positive
Reasoning: "Delicious filling for both" implies positive sentiment.

Opinion Target 2: "flaky shell"
Aspect: Food, Appearance
Sentiment: Mildly Positive
Reasoning: pleasant texture.

Opinion Target 3: "<$3 total"
Aspect: Price, Cost
Sentiment: Positive
Reasoning: cheap.

Opinion Target 4: "Friendly service"
Aspect: Customer service
Sentiment: Very Positive
Reasoning: "Friendly service" suggests a positive sentiment.'''


def test_parse_numbered_targets_and_fields():
    blocks = silver.parse_analysis(NUMBERED)
    assert [b.target for b in blocks] == ["egg tarts", "flaky shell", "<$3 total", "Friendly service"]
    assert blocks[1].aspects == ["Food, Appearance"] and blocks[1].sentiments == ["Mildly Positive"]


def test_numbered_aspects_under_one_target_and_a_missing_sentiment():
    text = '''Opinion Target 1: "The case"
Aspect 1: General Assessment
Sentiment 1: Very Positive
Reasoning 1: entirely pleased.

Aspect 2: Durability
Sentiment 2: Positive
Reasoning 2: durable.

Opinion Target 2: "strap"
Aspect: Build Quality
Reasoning: no sentiment line in this block.'''
    blocks = silver.parse_analysis(text)
    assert blocks[0].target == "The case" and blocks[0].sentiments == ["Very Positive", "Positive"]
    assert silver.target_polarity(blocks[0]) == ("positive", "")
    assert silver.target_polarity(blocks[1]) == (None, "no_sentiment")


@pytest.mark.parametrize("label, mapped", [
    ("Very Positive", "positive"), ("Mildly Positive", "positive"), ("Positive (Mild)", "positive"),
    ("Strong Positive", "positive"), ("Slightly negative", "negative"), ("Very Negative", "negative"),
    ("MildNegative", "negative"), ("Neutral", "neutral"), ("Mild", "neutral"), ("Mild Sentiment", "neutral"),
    ("neutral", "neutral"), ("Mixed", "conflict"), ("Positive/Negative", "conflict"),
    ("Not specified", None), ("Disappointment", None), ("", None),
])
def test_graded_sentiments_map_to_the_task_labels(label, mapped):
    assert silver.map_sentiment(label) == mapped


def test_a_target_whose_aspects_disagree_is_dropped():
    block = silver.TeacherTarget("keyboard", ["General", "Build"], ["Negative", "Positive"])
    assert silver.target_polarity(block) == (None, "conflicting_sentiment")
    # neutral beside one direction keeps the direction
    assert silver.target_polarity(silver.TeacherTarget("x", [], ["Neutral", "Mild Negative"])) == ("negative", "")


def test_silver_pairs_are_spans_of_the_review_sentences():
    counts = Counter()
    examples = silver.silver_from_analysis(REVIEW, NUMBERED, "r1", counts)
    got = [(e.sentence, [(a.target, a.polarity, a.start, a.end) for a in e.aspects]) for e in examples]
    assert got == [
        ("Tried both types of egg tarts.", [("egg tarts", "positive", "20", "29")]),
        ("Flaky shell, delicious filling for both, less than $3 total.", [("Flaky shell", "positive", "0", "11")]),
        ("Friendly service.", [("Friendly service", "positive", "0", "16")]),
    ]
    # the term is cut from the sentence's own characters (the case of the review, not the analysis)
    for e in examples:
        for a in e.aspects:
            assert e.sentence[int(a.start):int(a.end)] == a.target
    assert counts["targets"] == 4 and counts["kept"] == 3 and counts["dropped_not_in_text"] == 1


def test_targets_not_in_the_text_in_several_sentences_or_pronouns_are_dropped():
    review = "The food was cold. The food was also late. It was loud. Staff were kind."
    analysis = '''Opinion Target 1: "food"
Aspect: Quality
Sentiment: Negative

Opinion Target 2: "the noise level"
Aspect: Atmosphere
Sentiment: Negative

Opinion Target 3: "It"
Aspect: Atmosphere
Sentiment: Negative

Opinion Target 4: staff (the waiters)
Aspect: Service
Sentiment: Positive'''
    counts = Counter()
    examples = silver.silver_from_analysis(review, analysis, "r2", counts)
    assert [(e.sentence, [a.target for a in e.aspects]) for e in examples] == [("Staff were kind.", ["Staff"])]
    assert counts["dropped_in_several_sentences"] == 1 and counts["dropped_not_in_text"] == 1
    assert counts["dropped_pronoun"] == 1


def test_word_boundaries_and_placeholder_targets():
    assert silver.find_term("The staff were friendly", "staff") == (4, 9)
    assert silver.find_term("Overstaffed and slow", "staff") is None
    assert silver.find_term("hd  tv as a monitor", "HD TV") == (0, 6)
    assert silver.clean_target("(your own analysis here)") is None
    assert silver.clean_target('"Majors" (the bar)') == "Majors"
    assert silver.clean_target("beer - cold and cheap") == "beer"


def test_sentences_split_on_stops_and_line_breaks_keeping_quotes():
    text = 'He said "great!" Then left.\nNew line here?  Yes'
    assert [text[s:e] for s, e in silver.split_sentences(text)] == ['He said "great!"', "Then left.",
                                                                     "New line here?", "Yes"]


def test_records_rewrites_held_out_and_duplicate_reviews():
    rec = lambda text, resp, kind: CorpusRecord(text, resp, kind, "unknown", "mixtral", "x:1")  # noqa: E731
    records = [rec(REVIEW, NUMBERED, "analysis"), rec(REVIEW, "A rewrite.", "rewrite"),
               rec(REVIEW, NUMBERED, "analysis"), rec("Great pizza.", 'Opinion Target 1: "pizza"\nSentiment: Positive',
                                                      "analysis")]
    result = silver.silver_examples(records, exclude_reviews=["great   PIZZA."])
    assert result.counts["analyses"] == 1 and result.counts["duplicate_reviews"] == 1
    assert result.counts["excluded_reviews"] == 1
    assert result.summary()["pairs"] == 3 and result.summary()["polarity"] == {"positive": 3}


def test_silver_records_load_as_benchmark_data(tmp_path):
    examples = silver.silver_from_analysis(REVIEW, NUMBERED, "r1")
    back = parse_records(silver.to_records(examples), tmp_path / "silver.json", "train")
    assert [(e.sentence, e.aspects[0].target, e.aspects[0].polarity) for e in back] == \
        [(e.sentence, e.aspects[0].target, e.aspects[0].polarity) for e in examples]
    from fsa_distill.benchmark.targets import make_target

    assert make_target("atsa", back[0]) == "egg tarts | positive"


def test_leak_check_and_agreement_count_shared_sentences():
    gold = [Example("g1", "Friendly service.", (Aspect("service", None, "positive", "9", "16"),), "test")]
    examples = silver.silver_from_analysis(REVIEW, NUMBERED, "r1")
    agree = silver.agreement_with_gold(examples, gold)
    # shared sentence, but the silver term is "Friendly service" and gold's "service": no agreement
    assert agree == {"shared_sentences": 1, "silver_pairs_compared": 1, "agree": 0, "agreement": 0.0}
    assert silver.agreement_with_gold(examples, [])["agreement"] is None
    leak = silver.leak_check(examples, {"atsa": ["rest14"]})
    assert leak["total_overlap"] == 0 and set(leak["overlap"]) == {f"atsa/rest14/{s}" for s in
                                                                    ("train", "dev", "test", "hard_test")}


def test_the_shipped_sample_gives_silver_pairs_and_no_test_leak():
    report = silver.shipped_report()
    assert report["silver"]["pairs"] > 300 and report["excluded_held_out_reviews"] == 50
    overlap = report["leak_check"]["overlap"]
    assert all(n == 0 for k, n in overlap.items() if not k.endswith("/train")), overlap  # no dev/test leak
