"""The extractive student's codec: gold -> tags -> target strings round-trips the shipped benchmark."""

import pytest

from fsa_distill.benchmark.data import SPLITS, TASK_DATASETS, Aspect, Example, load_split
from fsa_distill.benchmark.scoring import score
from fsa_distill.decoding import tags
from fsa_distill.models.minilm import base_model_dir, load_base_tokenizer
from fsa_distill.student.tagging import tagger_features


@pytest.fixture(scope="module")
def tokenizer():
    return load_base_tokenizer(base_model_dir())


def as_probs(labels):
    """What a perfectly trained head would output for these labels."""
    return [p if any(p) else [0.25] * len(p) for p in labels]


def decoded_atsa(tokenizer, ex):
    f = tagger_features(tokenizer, "atsa", [ex])[0]
    offsets = tags.split_tokens(*_token_offsets(tokenizer, ex))[1]
    bio = [t if t >= 0 else tags.O_TAG for t in f["bio_labels"]]
    return tags.atsa_string(ex.sentence, tags.decode_spans(offsets, bio, as_probs(f["polarity_labels"])))


def _token_offsets(tokenizer, ex):
    enc = tokenizer(ex.sentence, return_offsets_mapping=True, truncation=True)
    cuts = [c for s, e, _ in tags.gold_spans(ex) for c in (s, e)]
    return enc["input_ids"], enc["offset_mapping"], cuts


@pytest.mark.parametrize("dataset", TASK_DATASETS["atsa"])
@pytest.mark.parametrize("split", SPLITS)
def test_atsa_gold_round_trips_every_split_exactly(tokenizer, dataset, split):
    examples = load_split("atsa", dataset, split)
    strings = [decoded_atsa(tokenizer, ex) for ex in examples]
    m = score("atsa", examples, strings, bootstrap=0)
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("dataset", TASK_DATASETS["acsa"])
@pytest.mark.parametrize("split", SPLITS)
def test_acsa_gold_round_trips_every_split_exactly(dataset, split):
    inventory = tags.category_inventory(load_split("acsa", dataset, "train") + load_split("acsa", dataset, "dev"))
    examples = load_split("acsa", dataset, split)
    strings = [tags.acsa_string(*tags.split_categories(tags.encode_categories(ex, inventory), len(inventory)),
                                inventory) for ex in examples]
    m = score("acsa", examples, strings, bootstrap=0)
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)


def test_the_inventory_covers_laptop16_categories_train_never_names_whole():
    inventory = set(tags.category_inventory(load_split("acsa", "laptop16", "train") +
                                            load_split("acsa", "laptop16", "dev")))
    seen = {a.category for s in ("train", "dev") for e in load_split("acsa", "laptop16", s) for a in e.aspects}
    unseen = {a.category for e in load_split("acsa", "laptop16", "test") for a in e.aspects} - seen
    assert unseen and unseen <= inventory


def aspect(target, polarity, start):
    return Aspect(target=target, category=None, polarity=polarity, start=str(start),
                  end=str(start + len(target)))


def test_a_span_with_two_polarities_gives_both_and_offsets_order_as_the_reference():
    s = "Food was ok but service was slow."
    ex = Example("1", s, (aspect("service", "negative", 16), aspect("Food", "positive", 0),
                          aspect("Food", "neutral", 0)))
    assert decoded_atsa(load_base_tokenizer(base_model_dir()), ex) == \
        "Food | neutral ; Food | positive ; service | negative"


def test_an_offset_that_is_off_finds_the_nearest_occurrence():
    s = "the rice and the fried rice"
    assert tags.locate(s, "rice", "20") == (23, 27)
    assert tags.locate(s, "rice", "4") == (4, 8)
    assert tags.locate(s, "soup", "0") is None


def test_decoding_an_i_after_o_still_starts_a_term_and_terms_are_cut_from_the_sentence():
    s = "Great Wi-Fi here"
    offsets = [(0, 0), (0, 5), (6, 8), (8, 9), (9, 11), (12, 16), (0, 0)]
    bio = [0, 0, 2, 2, 2, 0, 0]
    pol = [[1, 0, 0, 0]] * 7
    assert tags.atsa_string(s, tags.decode_spans(offsets, bio, pol)) == "Wi-Fi | positive"


def test_split_tokens_cuts_only_inside_tokens():
    ids, offsets = tags.split_tokens([7, 8], [(0, 7), (8, 12)], [0, 6, 12])
    assert ids == [7, 7, 8] and offsets == [(0, 6), (6, 7), (8, 12)]
