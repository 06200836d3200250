"""The predict API on hand-made strings (spans, parsing) and on an untrained tiny "fine-tuned" model.

The tiny model learns nothing without training (too slow on shared CPUs for a unit test), but its
outputs are deterministic and varied, which is what ordering, batching, truncation, save/load and
fast-path equality need. Decoding is capped at 12 tokens through the folder's fsa_distill.json.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.inference import (
    AnalysisResult,
    AspectSentiment,
    SentimentAnalyzer,
    locate_spans,
    parse_generated,
    to_result,
)

TINY_META = {"kind": "finetuned", "task": "atsa", "dataset": "rest14", "seed": 0, "base_model": "tiny",
             "scores": {}, "decode": {"max_length": 12, "num_beams": 1}}


def make_tiny_model(base: Path) -> Path:
    """An untrained tiny student saved as a fine-tuned folder (built once per session: the
    command tests call this too and find the folder already there)."""
    out = base / "tiny-finetuned"
    if not (out / "fsa_distill.json").exists():
        from fsa_distill.models import load_student, save_student

        model, tok = load_student("tiny")
        save_student(model, tok, out, meta=TINY_META)
        (out / "README.md").write_text("# tiny test model\n", encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def sa(tiny_dir) -> SentimentAnalyzer:
    return SentimentAnalyzer.from_pretrained(tiny_dir, device="cpu")


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    from fsa_distill.benchmark.data import load_split

    return [ex.sentence for ex in load_split("atsa", "rest14", "test")[:24]]


# ------------------------------------------------------------------------------ parsing, spans
def test_parse_keeps_reference_chunk_rules_but_not_the_substring_filter():
    seq = "Pasta | positive ; bad chunk ; a | b | positive ; waiter | rude ; | negative ; wine|neutral"
    assert parse_generated(seq) == [("Pasta", "positive"), ("wine", "neutral")]
    assert parse_generated("") == []


def test_repeated_terms_get_successive_spans():
    text = "The food was cold, but the food at lunch was good. food!"
    spans = locate_spans(text, ["food", "food", "food"])
    assert spans == [(4, 8), (27, 31), (51, 55)]
    assert all(text[s:e] == "food" for s, e in spans)


def test_case_insensitive_fallback_and_absent_terms():
    text = "The PASTA was great, the Wine list short."
    assert locate_spans(text, ["pasta", "Wine", "dessert"]) == [(4, 9), (25, 29), None]
    # an exact match wins over an earlier case-insensitive one
    assert locate_spans("Sushi and sushi", ["sushi"]) == [(10, 15)]


def test_short_term_is_not_placed_inside_a_longer_one():
    text = "The fried rice was bland but the rice itself was fine."
    spans = locate_spans(text, ["rice", "fried rice"])  # reference order is by string offset
    assert spans == [(33, 37), (4, 14)]


def test_more_mentions_than_occurrences_reuse_the_first_and_regex_characters_are_literal():
    assert locate_spans("C++ is fast", ["C++", "C++"]) == [(0, 3), (0, 3)]
    assert locate_spans("price (USD) ok", ["(USD)"]) == [(6, 11)]


def test_to_result_atsa_spans_and_acsa_categories():
    text = "Great food but the service was slow; the food was cheap."
    r = to_result("atsa", text, "food | positive ; service | negative ; food | positive ; music | neutral")
    # the text holds "food" twice: two aspects, two spans; "music" is not in the text: left out
    assert [(a.aspect, a.polarity, a.start, a.end, a.in_text) for a in r.aspects] == [
        ("food", "positive", 6, 10, True), ("service", "negative", 19, 26, True), ("food", "positive", 41, 45, True)]
    assert r.generated.endswith("music | neutral")  # the raw generation keeps everything
    r = to_result("acsa", text, "food quality | positive ; service general | negative")
    assert r.aspects == [AspectSentiment("food quality", "positive"), AspectSentiment("service general", "negative")]
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["aspects"][0] == {"aspect": "food quality", "polarity": "positive", "start": None, "end": None,
                               "in_text": None}


def test_a_repeating_generation_collapses_to_one_aspect_per_occurrence():
    text = "The pasta was great but the waiter was rude."
    r = to_result("atsa", text, "waiter | positive ; waiter | positive ; waiter | negative")
    assert [(a.aspect, a.polarity, a.start, a.end) for a in r.aspects] == [("waiter", "positive", 28, 34)]
    # twice in the text (once capitalised): each mention its own span, extra repeats dropped
    text = "Waiter one was rude, the other waiter was kind."
    r = to_result("atsa", text, "waiter | negative ; waiter | positive ; waiter | positive")
    assert [(a.polarity, text[a.start:a.end]) for a in r.aspects] == [("negative", "waiter"), ("positive", "Waiter")]
    assert len({(a.start, a.end) for a in r.aspects}) == 2


def test_a_term_found_only_inside_a_longer_one_collapses_into_it():
    text = "The wine list is impressive but the rice and fried rice were bland."
    r = to_result("atsa", text, "wine list | positive ; wine | negative ; fried rice | negative ; rice | negative")
    assert [(a.aspect, text[a.start:a.end]) for a in r.aspects] == [
        ("wine list", "wine list"), ("fried rice", "fried rice"), ("rice", "rice")]  # "rice" also occurs alone
    assert r.aspects[2].start == 36


def test_absent_terms_are_flagged_and_kept_only_on_request():
    text = "The keyboard feels cheap."
    r = to_result("atsa", text, "keyboard | negative ; wait | negative ; wait | negative")
    assert [a.aspect for a in r.aspects] == ["keyboard"] and r.generated.count("wait") == 2
    kept = to_result("atsa", text, "keyboard | negative ; wait | negative ; wait | negative", keep_absent=True)
    assert [(a.aspect, a.start, a.in_text) for a in kept.aspects] == [("keyboard", 4, True), ("wait", None, False)]
    assert kept.to_dict()["aspects"][1]["in_text"] is False


def test_acsa_repeats_collapse_but_two_polarities_of_one_category_stay():
    r = to_result("acsa", "x", "food quality | positive ; food quality | positive ; FOOD quality | negative")
    assert [(a.aspect, a.polarity) for a in r.aspects] == [("food quality", "positive"), ("FOOD quality", "negative")]


# ---------------------------------------------------------------------------------- the model
def test_from_pretrained_reads_task_and_decode_settings(sa, tiny_dir):
    assert sa.task == "atsa" and sa.max_length == 12 and sa.num_beams == 1
    assert sa.max_input_length == 512
    assert SentimentAnalyzer.from_pretrained(tiny_dir, task="acsa", device="cpu").task == "acsa"


def test_missing_or_bad_model_is_a_one_line_error(tmp_path, monkeypatch):
    for spec in (tmp_path / "nope", "./nope"):
        with pytest.raises(FsaError, match="no such folder"):
            SentimentAnalyzer.from_pretrained(spec)
    # "dir/name" looks like a hub id; when "dir" is a local folder it is a missing path instead
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(FsaError, match="no such folder"):
        SentimentAnalyzer.from_pretrained("runs/seed42")
    (tmp_path / "runs" / "empty").mkdir()
    with pytest.raises(FsaError) as e:
        SentimentAnalyzer.from_pretrained("runs/empty")
    assert "\n" not in str(e.value)


def test_unknown_task_is_an_error(tiny_dir):
    with pytest.raises(FsaError, match="unknown task"):
        SentimentAnalyzer.from_pretrained(tiny_dir, task="absa", device="cpu")


def test_predict_one_and_many_in_input_order(sa, sentences):
    from fsa_distill.decoding.generate import generate

    results = sa.predict(sentences, batch_size=5)
    # unsorted, one batch: the reference's way; ours sorts by length and must give the same
    expected = generate(sa.model, sa.tokenizer, sentences, batch_size=len(sentences), max_length=12,
                        sort_by_length=False, progress=False)
    assert [r.generated for r in results] == expected
    assert [r.text for r in results] == sentences
    one = sa.predict(sentences[3])
    assert isinstance(one, AnalysisResult) and one.generated == expected[3]
    for r in results:  # every aspect is parsed from the raw string, spans point at the term, no span twice
        assert len(r.aspects) <= len(parse_generated(r.generated))
        assert len({(a.start, a.end) for a in r.aspects}) == len(r.aspects)
        for a in r.aspects:
            assert a.in_text and r.text[a.start:a.end].lower() == a.aspect.lower()


def test_empty_texts_keep_their_place_and_skip_the_model(sa, sentences):
    results = sa.predict(["", sentences[0], "   ", sentences[1]])
    assert [r.text for r in results] == ["", sentences[0], "   ", sentences[1]]
    assert results[0].generated == "" and results[0].aspects == [] and results[2].generated == ""
    assert results[1].generated == sa.predict(sentences[0]).generated
    assert sa.predict([]) == []


def test_long_texts_are_truncated_with_one_warning(sa, caplog):
    long = "the food was good and " * 400  # ~2000 tokens
    with caplog.at_level(logging.WARNING, logger="fsa_distill.inference"):
        results = sa.predict([long, "short text", long + "!"])
    assert [r.truncated for r in results] == [True, False, True]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["2 text(s) longer than 512 tokens were truncated to fit the model"]


def test_predict_iter_streams_in_chunks_with_the_same_results(sa, sentences):
    texts = sentences[:10] + [""]
    streamed = list(sa.predict_iter(iter(texts), batch_size=4, chunk_size=3))
    assert [r.generated for r in streamed] == [r.generated for r in sa.predict(texts)]


def test_non_string_text_is_an_error(sa):
    with pytest.raises(FsaError, match="text 1: expected a string"):
        sa.predict(["fine", None])


def test_save_pretrained_round_trip(sa, sentences, tmp_path):
    from fsa_distill.inference.student import GenerativeStudent

    acsa = SentimentAnalyzer(GenerativeStudent(sa.model, sa.tokenizer, task="acsa", meta=sa.meta, source=sa.source))
    acsa.save_pretrained(tmp_path / "copy")
    meta = json.loads((tmp_path / "copy" / "fsa_distill.json").read_text())
    assert meta["task"] == "acsa" and meta["dataset"] == "rest14" and meta["decode"]["max_length"] == 12
    assert (tmp_path / "copy" / "README.md").read_text() == "# tiny test model\n"
    again = SentimentAnalyzer.from_pretrained(tmp_path / "copy", device="cpu")
    assert again.task == "acsa"
    assert [r.generated for r in again.predict(sentences[:6])] == [r.generated for r in sa.predict(sentences[:6])]


def test_package_exports_the_analyzer():
    import fsa_distill

    assert fsa_distill.SentimentAnalyzer is SentimentAnalyzer


# -------------------------------------------------------------------------------- fast path
def test_fast_path_without_ctranslate2_names_the_extra(tiny_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # makes `import ctranslate2` fail
    with pytest.raises(FsaError, match=r'pip install "fsa-distill\[fast\]"'):
        SentimentAnalyzer.from_pretrained(tiny_dir, fast=True)


def test_fast_path_gives_identical_outputs(sa, tiny_dir, sentences):
    pytest.importorskip("ctranslate2")
    fast = SentimentAnalyzer.from_pretrained(tiny_dir, device="cpu", fast=True)
    texts = sentences + ["", "the food was good and " * 300]
    assert [r.to_dict() for r in fast.predict(texts, batch_size=7)] == [r.to_dict() for r in sa.predict(texts)]
    # a 99-token budget, as in evaluation: the untrained model runs to the limit on some inputs
    fast.max_length = sa.max_length = 100
    try:
        assert fast.generate(sentences) == sa.generate(sentences)
    finally:
        sa.max_length = 12


def test_compute_type_needs_the_fast_path_and_a_known_type(tiny_dir):
    with pytest.raises(FsaError, match="compute type int8: needs the fast path"):
        SentimentAnalyzer.from_pretrained(tiny_dir, compute_type="int8")
    pytest.importorskip("ctranslate2")
    with pytest.raises(FsaError, match="compute type int4: expected one of float32, int8, int16"):
        SentimentAnalyzer.from_pretrained(tiny_dir, fast=True, compute_type="int4")


def test_quantized_fast_path_answers_every_text(sa, tiny_dir, sentences):
    """int8 changes some answers (docs/predict.md measures how many): here only the contract is
    checked - one well-formed result per text, in order, and the analyzer says how it computes."""
    pytest.importorskip("ctranslate2")
    q = SentimentAnalyzer.from_pretrained(tiny_dir, device="cpu", fast=True, compute_type="int8")
    assert q.compute_type == "int8" and sa.compute_type == "float32"
    texts = sentences + [""]
    results = q.predict(texts, batch_size=4)
    assert [r.text for r in results] == texts and results[-1].generated == ""
    assert all(isinstance(r.generated, str) for r in results)


def test_predict_cleans_results_and_keep_absent_keeps_flagged_terms(sa, monkeypatch):
    """The analyzer applies the cleaning to what the model wrote (generation replaced by a
    repeating, partly absent string) and `keep_absent` switches the absent terms back on."""
    text = "The keyboard feels cheap but the screen is fine."
    wrote = "keyboard | negative ; keyboard | negative ; wait | negative ; screen | positive"
    monkeypatch.setattr(sa.student, "_run", lambda texts, *a: ([wrote] * len(texts),) * 2 + ([False] * len(texts),))
    r = sa.predict(text)
    assert [(a.aspect, text[a.start:a.end]) for a in r.aspects] == [("keyboard", "keyboard"), ("screen", "screen")]
    assert r.generated.count("keyboard") == 2
    monkeypatch.setattr(sa, "keep_absent", True)
    assert [(a.aspect, a.in_text) for a in sa.predict(text).aspects] == [
        ("keyboard", True), ("wait", False), ("screen", True)]


def test_fast_path_lets_the_model_answer_nothing(sa, tmp_path, sentences):
    """A trained student often answers "" (no aspect): the end token at the first step.
    CTranslate2 forbids that by default (min_decoding_length=1) and would make it write
    something; trained here in a few steps to answer "" for everything, both paths agree."""
    pytest.importorskip("ctranslate2")
    import torch

    from fsa_distill.models import load_student, save_student

    model, tok = load_student(sa.source)
    batch = tok(sentences[:8], return_tensors="pt", padding=True)
    labels = tok(text_target=[""] * 8, return_tensors="pt")["input_ids"]  # just </s>
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(15):
        model(**batch, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    save_student(model, tok, tmp_path / "quiet", meta={**TINY_META})
    slow = SentimentAnalyzer.from_pretrained(tmp_path / "quiet", device="cpu")
    fast = SentimentAnalyzer.from_pretrained(tmp_path / "quiet", device="cpu", fast=True)
    want = slow.generate(sentences)
    assert want.count("") >= len(sentences) // 2
    assert fast.generate(sentences) == want
