"""Corpus reading, pair building, mixing and length-grouped batching (no training)."""

import gzip
import json

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.student import pretrain_data as corpus
from fsa_distill.student.sampler import (
    LengthGroupedSampler,
    Seq2SeqCollator,
    padding_stats,
    shuffled_batches,
)

ANALYSIS = 'Opinion Target 1: "pizza"\nAspect: food\nSentiment: Positive\nReasoning: said so.'
REWRITE = " I loved the pizza.\n\nIt was great."


def _write_jsonl(path, rows, gz=False):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_reads_both_formats_skips_failed_records_and_infers_kind_and_domain(tmp_path):
    ours = _write_jsonl(tmp_path / "ours.jsonl", [
        {"text": "Great pizza.", "response": ANALYSIS, "kind": "analysis", "domain": "restaurant", "teacher": "m1", "ok": True},
        {"text": "Bad screen.", "response": "junk", "kind": "rewrite", "domain": "computer", "teacher": "m1", "ok": False},
        {"text": "Bad screen.", "response": REWRITE, "kind": "rewrite", "domain": "computer", "teacher": "m1"},
    ])
    _write_jsonl(tmp_path / "rewrite" / "restaurant" / "restaurant_20000_v0.json.gz", [
        {"ID": 1, "Text": "Nice.", "Overall": 5.0, "mixtral_response": REWRITE},
        {"ID": 2, "Text": "Nice.", "Overall": 5.0, "mixtral_response": "\n" + ANALYSIS},
    ], gz=True)
    recs = corpus.read_records([ours, tmp_path / "rewrite"])
    assert [(r.kind, r.domain, r.teacher) for r in recs] == [
        ("analysis", "restaurant", "m1"), ("rewrite", "computer", "m1"),
        ("rewrite", "restaurant", "mixtral"), ("analysis", "restaurant", "mixtral")]
    assert corpus.teacher_ids(recs) == ["m1", "mixtral"]


def test_folder_is_expanded_recursively_in_sorted_order(tmp_path):
    _write_jsonl(tmp_path / "b" / "x.jsonl", [{"text": "b", "response": REWRITE}])
    _write_jsonl(tmp_path / "a.jsonl", [{"text": "a", "response": REWRITE}])
    (tmp_path / "notes.txt").write_text("not a corpus file")
    assert [r.text for r in corpus.read_records([tmp_path])] == ["a", "b"]


@pytest.mark.parametrize("line,message", [
    ("{not json", "invalid JSON"),
    ('{"Text": "x"}', "no response field"),
    ('{"text": "x", "response": 3}', "'response' must be a string"),
    ('{"text": "x", "response": "y", "kind": "summary"}', "kind 'summary'"),
    ('[1, 2]', "expected a JSON object"),
])
def test_bad_records_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "ok", "response": REWRITE}) + "\n\n" + line + "\n")
    with pytest.raises(FsaError, match=rf"c\.jsonl:3: .*{message}"):
        corpus.read_records([path])


def test_missing_path_and_empty_folder_are_user_errors(tmp_path):
    with pytest.raises(FsaError, match="not found"):
        corpus.read_records([tmp_path / "nope.jsonl"])
    with pytest.raises(FsaError, match="no corpus files"):
        corpus.read_records([tmp_path])


def _recs(n_each=10):
    out = []
    for i in range(n_each):
        for kind in corpus.KINDS:
            for domain in ("restaurant", "computer"):
                out.append(corpus.CorpusRecord(f"review {i} {domain}", REWRITE, kind, domain, None, "t"))
    return out


def test_mixing_weights_drop_repeat_and_sample_deterministically():
    recs = _recs()
    assert corpus.mix(recs) == recs  # the reference: everything, once
    only_rewrite = corpus.mix(recs, kind_weights={"analysis": 0})
    assert {r.kind for r in only_rewrite} == {"rewrite"} and len(only_rewrite) == 20
    doubled = corpus.mix(recs, domain_weights={"computer": 2})
    assert sum(r.domain == "computer" for r in doubled) == 40 and len(doubled) == 60
    half = corpus.mix(recs, kind_weights={"rewrite": 0.5}, seed=3)
    assert half == corpus.mix(recs, kind_weights={"rewrite": 0.5}, seed=3)
    assert 0 < sum(r.kind == "rewrite" for r in half) < 20


def test_holdout_keeps_every_record_of_a_review_on_one_side():
    recs = _recs()  # each review text has an analysis and a rewrite
    train, val = corpus.split_holdout(recs, 5, seed=1)
    assert len(val) == 10 and len(train) == 30
    assert not {r.text for r in train} & {r.text for r in val}
    kept, dropped = corpus.drop_reviews(recs, ["REVIEW 0  restaurant"])  # normalized match
    assert dropped == 2 and len(kept) == 38


def test_pairs_use_nl_truncate_keep_eos_and_optional_prefix():
    from fsa_distill.models import load_student

    _, tok = load_student("tiny")
    rec = corpus.CorpusRecord("line one\nline two " + "word " * 300, ANALYSIS * 20, "analysis", "x", None, "t")
    src, tgt = corpus.pair_texts([rec])
    assert "[NL]" in src[0] and "\n" not in src[0] + tgt[0] and src[0].startswith("line one")
    ds = corpus.tokenize_pairs([rec], tok, max_source_length=16, max_target_length=32)
    row = ds[0]
    assert row["source_length"] == 16 and row["target_length"] == 32
    assert row["input_ids"][-1] == tok.eos_token_id and row["labels"][-1] == tok.eos_token_id
    assert tok.convert_tokens_to_ids("[NL]") in row["input_ids"]
    src, _ = corpus.pair_texts([rec], prefixes={"analysis": "analyse: "})
    assert src[0].startswith("analyse: line one")


def test_length_grouped_sampler_is_a_deterministic_permutation_per_epoch():
    import random

    rng = random.Random(0)
    tgt = [rng.randint(5, 400) for _ in range(1003)]
    src = [rng.randint(5, 128) for _ in range(1003)]
    s = LengthGroupedSampler(tgt, src, batch_size=20, seed=42, group_size=8)
    e0 = list(s)
    assert sorted(e0) == list(range(1003))
    assert list(LengthGroupedSampler(tgt, src, batch_size=20, seed=42, group_size=8)) == e0
    s.set_epoch(1)
    assert list(s) != e0 and sorted(s) == list(range(1003))
    batches = s.batches(epoch=0)
    assert [len(b) for b in batches[:-1]] == [20] * 50 and len(batches[-1]) == 3  # the short one last
    assert max(tgt[i] for i in batches[0]) == max(tgt)  # the longest batch first
    grouped = padding_stats(batches, src, tgt)
    shuffled = padding_stats(shuffled_batches(1003, 20, seed=42), src, tgt)
    assert grouped.target_fraction < 0.15 and shuffled.target_fraction > 0.4
    assert grouped.fraction < shuffled.fraction / 1.5


def test_collator_pads_to_the_batch_longest_and_the_reference_variant_gives_the_same_tensors():
    feats = [{"input_ids": [5, 6, 1], "labels": [7, 1]}, {"input_ids": [5, 1], "labels": [7, 8, 9, 1]}]
    batch = Seq2SeqCollator(pad_token_id=0)(feats)
    assert batch["input_ids"].tolist() == [[5, 6, 1], [5, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 1, -100, -100], [7, 8, 9, 1]]
    ref = Seq2SeqCollator(pad_token_id=0, pad_to=(128, 400))(feats)
    assert all(ref[k].equal(batch[k]) for k in batch)
