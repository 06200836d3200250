"""Distillation pretraining pairs (review -> teacher response) from teacher corpus records.

Reading the corpus formats (ours and the reference's), mixing weights and the held-out reviews
live in teacher/corpus_records.py (re-exported here). A pair is built as in the reference (docs/reference.md §4c):
source = review with '\n' -> [NL], no prefix, at most 128 tokens; target = response with '\n' ->
[NL], at most 400 tokens, ending in EOS. Analyses and rewrites are pooled; an optional task prefix
per kind is the ablation switch (student/prefixes.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from fsa_distill.decoding.text import to_model_text
from fsa_distill.teacher.corpus_records import (  # noqa: F401  (re-exported: the reader moved there)
    CORPUS_SUFFIXES,
    CorpusRecord,
    KINDS,
    PATH_DOMAINS,
    REFERENCE_RESPONSE_FIELDS,
    UNKNOWN_DOMAIN,
    _domain_from_path,
    _field,
    _parse_record,
    corpus_files,
    describe,
    drop_reviews,
    infer_kind,
    iter_records,
    mix,
    nested_sample,
    normalize_review,
    read_records,
    review_key,
    split_holdout,
    teacher_ids,
)


def pair_texts(records: Sequence[CorpusRecord], prefixes: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Source and target strings; `prefixes` (kind -> text) is the task-prefix ablation."""
    sources, targets = [], []
    for r in records:
        prefix = prefixes.get(r.kind, "") if prefixes else ""
        sources.append(prefix + to_model_text(r.text))
        targets.append(to_model_text(r.response))
    return sources, targets


def tokenize_pairs(records: Sequence[CorpusRecord], tokenizer, max_source_length: int = 128,
                   max_target_length: int = 400, prefixes: dict[str, str] | None = None,
                   batch_size: int = 1000):
    """A `datasets.Dataset` with input_ids, labels (both truncated, EOS kept by the tokenizer's
    truncation) and their lengths. Arrow-backed, so millions of pairs stay compact in memory."""
    import datasets

    sources, targets = pair_texts(records, prefixes)
    ds = datasets.Dataset.from_dict({"source": sources, "target": targets})

    def encode(batch):
        src = tokenizer(batch["source"], max_length=max_source_length, truncation=True)["input_ids"]
        tgt = tokenizer(text_target=batch["target"], max_length=max_target_length, truncation=True)["input_ids"]
        return {"input_ids": src, "labels": tgt,
                "source_length": [len(x) for x in src], "target_length": [len(x) for x in tgt]}

    return ds.map(encode, batched=True, batch_size=batch_size, remove_columns=["source", "target"],
                  desc="tokenizing pairs", load_from_cache_file=False)
