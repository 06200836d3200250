import json
from collections import Counter

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.teacher.config import ReviewsConfig
from fsa_distill.teacher.reviews import LeakGuard, load_reviews, read_reviews, stratified_sample

ROWS = [
    {"id": "a", "body": "The pasta was great but the waiter was rude to us.", "stars": 3, "cat": "restaurant"},
    {"id": "b", "body": "the PASTA was great   but the waiter was rude to us.", "stars": 3, "cat": "restaurant"},
    {"id": "c", "body": "Battery life is poor, the screen is lovely.", "stars": 2, "cat": None},
    {"id": "d", "body": "ok", "stars": 5, "cat": "laptop"},
    {"id": "e", "body": "", "stars": None, "cat": "laptop"},
]


def cfg(path, **kw):
    base = dict(path=str(path), text_field="body", rating_field="stars", domain_field="cat", id_field="id",
                default_domain="unknown", leak_guard={"enabled": False})
    return ReviewsConfig(**{**base, **kw})


def write(tmp_path, fmt):
    if fmt == "jsonl":
        p = tmp_path / "r.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    elif fmt == "csv":
        import pandas as pd

        p = tmp_path / "r.csv"
        pd.DataFrame(ROWS).to_csv(p, index=False)
    elif fmt == "parquet":
        import pandas as pd

        p = tmp_path / "r.parquet"
        pd.DataFrame(ROWS).to_parquet(p)
    else:
        import datasets

        p = tmp_path / "r_ds"
        datasets.Dataset.from_list(ROWS).save_to_disk(str(p))
    return p


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "datasets"])
def test_each_format_loads_dedups_and_filters(tmp_path, fmt):
    reviews, stats = load_reviews(cfg(write(tmp_path, fmt)))
    assert [r.review_id for r in reviews] == ["a", "c"]
    assert reviews[0].rating == 3.0 and reviews[0].domain == "restaurant"
    assert reviews[1].domain == "unknown"  # missing domain -> default_domain
    assert stats["read"] == 5 and stats["empty"] == 1 and stats["duplicate"] == 1 and stats["too_short"] == 1
    assert stats["kept"] == 2 and stats["ratings"] == {"2": 1, "3": 1}


def test_default_input_is_the_shipped_sample():
    reviews, stats = load_reviews(ReviewsConfig())
    # 500 records: one text twice (both kinds recorded), one review holding hard-test sentences.
    assert stats["read"] == 500 and stats["duplicate"] == 1 and stats["benchmark_leak"] == 1
    assert len(reviews) == 498 and "4466396" not in {r.review_id for r in reviews}


def test_bad_json_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"Text": "fine review here"}\n{"Text": "broken\n', encoding="utf-8")
    with pytest.raises(FsaError, match=r"bad\.jsonl: line 2: invalid JSON"):
        list(read_reviews(ReviewsConfig(path=str(p))))


def test_missing_and_wrong_fields_name_the_field(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"Text": "good", "Overall": 4}\n{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(FsaError, match=r"r\.jsonl:2: missing field 'Text'"):
        list(read_reviews(ReviewsConfig(path=str(p))))
    p.write_text('{"Text": "good", "Overall": "five"}\n', encoding="utf-8")
    with pytest.raises(FsaError, match=r"r\.jsonl:1: field 'Overall' must be a number, got 'five'"):
        list(read_reviews(ReviewsConfig(path=str(p))))
    p.write_text('{"Text": 42}\n', encoding="utf-8")
    with pytest.raises(FsaError, match=r"r\.jsonl:1: field 'Text' must be text"):
        list(read_reviews(ReviewsConfig(path=str(p))))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "datasets"])
def test_missing_column_names_the_column(tmp_path, fmt):
    with pytest.raises(FsaError, match=r"no column 'review_text'"):
        list(read_reviews(cfg(write(tmp_path, fmt), text_field="review_text")))


def test_csv_bad_value_names_the_line(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("body,stars\nnice place to eat,4\nawful,four\n", encoding="utf-8")
    with pytest.raises(FsaError, match=r"r\.csv:3: field 'stars' must be a number"):
        list(read_reviews(ReviewsConfig(path=str(p), text_field="body", rating_field="stars", id_field=None)))


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(FsaError, match="reviews file not found"):
        list(read_reviews(ReviewsConfig(path=str(tmp_path / "nope.jsonl"))))
    (tmp_path / "r.txt").write_text("x")
    with pytest.raises(FsaError, match="set reviews.format"):
        list(read_reviews(ReviewsConfig(path=str(tmp_path / "r.txt"))))


def test_leak_guard_finds_benchmark_sentences_in_longer_text():
    from fsa_distill.benchmark.data import load_split

    guard = LeakGuard()
    hard = next(e.sentence for e in load_split("atsa", "laptop14", "hard_test") if len(e.sentence.split()) >= 10)
    test = next(e.sentence for e in load_split("acsa", "rest16", "test") if len(e.sentence.split()) >= 10)
    for s in (hard, test):
        assert guard.leaks(f"We went on a Tuesday. {s.upper()}   And then we left!")
        assert not guard.leaks(" ".join(s.split()[:-3]))  # a part of a sentence is not a leak
    assert not guard.leaks("It was worth the wait.")  # too short to mean anything


def test_stratified_sampling_oversamples_mid_ratings():
    from fsa_distill.teacher.reviews import Review

    reviews = [Review(str(i), f"text {i}", rating=float(1 + i % 5)) for i in range(5000)]
    picked = stratified_sample(reviews, 1000, {1: 1, 2: 1, 3: 4, 4: 1, 5: 0}, 1.0, seed=1)
    c = Counter(int(r.rating) for r in picked)
    assert len(picked) == 1000 and c[5] == 0
    assert c[3] > 2.5 * c[1] and c[3] > 2.5 * c[4]
    assert [int(r.review_id) for r in picked] == sorted(int(r.review_id) for r in picked)  # input order kept
    assert stratified_sample(reviews, 1000, {3: 4, 1: 1}, 1.0, seed=1) == stratified_sample(
        reviews, 1000, {3: 4, 1: 1}, 1.0, seed=1)


def test_sampling_config_in_load_reviews():
    reviews, stats = load_reviews(ReviewsConfig(sample={"n": 50, "rating_weights": {3: 1.0}}))
    assert len(reviews) == 50 and stats["ratings"] == {"3": 50} and stats["not_sampled"] == 448
