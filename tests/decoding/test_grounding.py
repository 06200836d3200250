"""Span-grounded decoding: generated ATSA terms take the sentence's exact characters."""

import pytest

from fsa_distill.benchmark.scoring import score
from fsa_distill.benchmark.targets import make_target, parse_pairs
from fsa_distill.benchmark.views import load_view
from fsa_distill.decoding.grounding import candidate_spans, ground


@pytest.mark.parametrize("prediction, sentence, expected", [
    # case lost by an uncased tokenizer
    ("food | positive", "Food was great.", "Food | positive"),
    # spacing around hyphens, apostrophes and other punctuation that WordPiece splits off
    ("wi - fi | negative", "The Wi-Fi kept dropping.", "Wi-Fi | negative"),
    ("chef ' s special | positive", "The chef's special is a must.", "chef's special | positive"),
    ("i / o ports | neutral", "It has many I/O ports.", "I/O ports | neutral"),
    # punctuation dropped altogether: found by the punctuation-free fallback key
    ("wifi | negative", "The Wi-Fi kept dropping.", "Wi-Fi | negative"),
    # accents stripped by the uncased normalizer
    ("creme brulee | positive", "Loved the crème brûlée.", "crème brûlée | positive"),
    # whitespace inside the sentence's span is kept as written there
    ("windows 7 | positive", "Runs Windows  7 fine.", "Windows  7 | positive"),
])
def test_terms_take_the_sentence_spelling(prediction, sentence, expected):
    assert ground("atsa", prediction, sentence) == expected


def test_polarity_and_separators_are_in_reference_format():
    out = ground("atsa", "  wi - fi|negative;food |positive ", "Wi-Fi bad, food good.")
    assert out == "Wi-Fi | negative ; food | positive"


def test_absent_terms_stay_exactly_as_generated():
    sentence = "The pasta was cold."
    assert ground("atsa", "Garlic  Bread | negative", sentence) == "Garlic  Bread | negative"
    # inside a word is not a match: "ice" is not grounded in "service" or "Ice" in "Iceberg"
    assert ground("atsa", "ICE | neutral", "Slow service.") == "ICE | neutral"
    assert candidate_spans("ice", "Iceberg lettuce") == []


def test_a_term_already_in_the_sentence_keeps_its_spelling():
    # generated once, exact match wins over an earlier case-variant
    assert ground("atsa", "food | positive", "Food first, then more food.") == "food | positive"


def test_word_aligned_occurrence_beats_a_substring_inside_a_word():
    # "food" is a substring of "seafood", but the aspect is the sentence-initial "Food"
    assert ground("atsa", "food | positive", "Food was fine, seafood was not.") == "Food | positive"


def test_repeated_terms_take_successive_occurrences_in_reading_order():
    sentence = "Price was high on the Mac, but the price on the PC was fine."
    assert ground("atsa", "price | negative ; price | positive", sentence) == "Price | negative ; price | positive"
    # more occurrences generated than the sentence has: the extra one reuses the first
    assert ground("atsa", "price | negative ; price | positive ; price | neutral", "Price ok.") == \
        "Price | negative ; Price | positive ; Price | neutral"


def test_same_term_twice_with_same_spelling_is_left_alone():
    sentence = "good food , bad food"
    assert ground("atsa", "food | positive ; food | negative", sentence) == "food | positive ; food | negative"


def test_unparseable_chunks_are_kept_and_empty_predictions_pass_through():
    assert ground("atsa", "food positive ; wi - fi | negative", "Food and Wi-Fi.") == \
        "food positive ; Wi-Fi | negative"
    assert ground("atsa", "", "Anything.") == ""


def test_acsa_predictions_are_untouched():
    prediction = "food quality | positive ;service general|negative"
    assert ground("acsa", prediction, "Food Quality was fine.") == prediction


@pytest.mark.parametrize("dataset, floor", [("rest14", 1.0), ("laptop14", 0.999)])
def test_grounding_recovers_lowercased_gold_targets(dataset, floor):
    """What an uncased WordPiece round trip does to the gold targets (lower case, split
    punctuation), grounding undoes: on rest14 every gold pair comes back exactly. laptop14 has
    one term that starts inside a word ("manyLegacy"), which is deliberately not grounded."""
    examples = load_view("atsa", dataset, "normal")
    gold = [make_target("atsa", e) for e in examples]
    lowered = [" ".join(g.lower().replace("-", " - ").replace("'", " ' ").split()) for g in gold]
    before = score("atsa", examples, lowered, bootstrap=0)["f1"]
    after = score("atsa", examples, [ground("atsa", p, e.sentence) for p, e in zip(lowered, examples)],
                  bootstrap=0)["f1"]
    assert before < 0.95
    assert after >= floor


def test_grounded_terms_are_substrings_the_scorer_keeps():
    sentence = "The Wi-Fi and the chef's special."
    out = ground("atsa", "wi - fi | negative ; chef ' s special | positive", sentence)
    assert parse_pairs("atsa", out, sentence) == [("Wi-Fi", "negative"), ("chef's special", "positive")]
