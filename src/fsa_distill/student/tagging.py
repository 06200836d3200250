"""Training data for the extractive student: sentences -> token labels, and the batch collator.

The labels come from decoding/tags.py (the codec whose round trip is tested on the whole
benchmark), so what the tagger is trained on is exactly what it writes back. Sentences are
tokenized as they are (no `[NL]` rewriting): the tokenizer's character offsets must point into
the sentence itself, because terms are cut from it.
"""

from __future__ import annotations

from fsa_distill.decoding import tags
from fsa_distill.errors import FsaError


def tagger_features(tokenizer, task: str, examples, categories=()) -> list[dict]:
    """One dict a sentence: input_ids, attention_mask and the task's labels."""
    if not getattr(tokenizer, "is_fast", False):
        raise FsaError("an extractive student needs a fast tokenizer (character offsets); this one has none")
    enc = tokenizer([e.sentence for e in examples], return_offsets_mapping=True, truncation=True)
    features = []
    for k, ex in enumerate(examples):
        ids, offsets = enc["input_ids"][k], enc["offset_mapping"][k]
        if task == "atsa":
            spans = tags.gold_spans(ex)
            ids, offsets = tags.split_tokens(ids, offsets, [c for s, e, _ in spans for c in (s, e)])
            bio, pols = tags.encode_spans(offsets, spans)
            features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "bio_labels": bio,
                             "polarity_labels": [p or [0.0] * len(tags.POLARITIES) for p in pols]})
        else:
            features.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                             "category_labels": tags.encode_categories(ex, categories)})
    return features


class TaggerCollator:
    """Pads a batch to its longest sentence: ids with the pad id, labels with IGNORE / zeros."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        n = max(len(f["input_ids"]) for f in batch)

        def pad(key, value):
            return [f[key] + [value] * (n - len(f[key])) for f in batch]

        out = {"input_ids": torch.tensor(pad("input_ids", self.pad_id)),
               "attention_mask": torch.tensor(pad("attention_mask", 0))}
        if "bio_labels" in batch[0]:
            out["bio_labels"] = torch.tensor(pad("bio_labels", tags.IGNORE))
            out["polarity_labels"] = torch.tensor(pad("polarity_labels", [0.0] * len(tags.POLARITIES)))
        else:
            out["category_labels"] = torch.tensor([f["category_labels"] for f in batch])
        return out
