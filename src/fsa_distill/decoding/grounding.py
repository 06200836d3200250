"""Span-grounded decoding: give each generated aspect term the exact characters of the sentence.

The reference scorer keeps an ATSA pair only if its term is a case-sensitive substring of the raw
sentence, and counts it correct only if it equals the gold term exactly. A tokenizer can lose what
that check needs: an uncased WordPiece student writes "wi - fi" for "Wi-Fi", "chef ' s" for
"chef's" and "creme brulee" for "crème brûlée". Grounding looks each generated term up in the
sentence with a normalised key and, when it is found at word boundaries, replaces it by that span
of the sentence. Scores are then computed by the unchanged reference scorer on the final strings.

Matching, per term (in the order generated):
  1. key = the term lower-cased, accents stripped, whitespace removed; candidates are the spans of
     the sentence with the same key that start and end on a word boundary. If there are none, the
     same with punctuation removed as well ("wifi" -> "Wi-Fi").
  2. A term generated once takes the first candidate whose text equals it exactly (a term that is
     already right stays right), else the first candidate in reading order. A term generated more
     than once (a sentence with "Price ... price") takes the candidates in reading order, one per
     occurrence, because targets are written in offset order; once they run out it reuses the first.
  3. No candidate: the term stays exactly as generated (the scorer will drop it, as before).

Polarities are only stripped; items are rejoined with the reference separators " | " and " ; ".
ACSA predictions are categories, not spans of the sentence, and pass through unchanged.
"""

from __future__ import annotations

from collections import Counter

from fsa_distill.benchmark.targets import ITEM_SEP, PAIR_SEP, split_items
from fsa_distill.decoding.spans import Span, find_spans, fold_key


def candidate_spans(term: str, sentence: str) -> list[Span]:
    """Word-aligned spans of `sentence` that spell `term` up to case, accents, spacing (and, as a
    fallback, punctuation), in reading order."""
    return find_spans(term, sentence, "folded") or find_spans(term, sentence, "loose")


def ground_term(term: str, sentence: str, used: set[Span], repeated: bool = False) -> str:
    """The sentence's spelling of `term`; `used` holds spans already given to earlier occurrences."""
    spans = candidate_spans(term, sentence)
    if not spans:
        return term
    fresh = [s for s in spans if s not in used] or spans
    exact = [] if repeated else [s for s in fresh if sentence[s[0]:s[1]] == term]
    span = (exact or fresh)[0]
    used.add(span)
    return sentence[span[0]:span[1]]


def ground(task: str, prediction: str, sentence: str) -> str:
    """`prediction` with every ATSA term replaced by the matching characters of `sentence`."""
    if task != "atsa" or not prediction.strip():
        return prediction
    items = split_items(prediction)
    keys = Counter(fold_key(halves[0]) for _, halves in items if halves)
    used: set[Span] = set()
    out = []
    for chunk, halves in items:
        if halves is None:  # unparseable: the scorer drops it; keep it for the record
            out.append(chunk)
            continue
        term, polarity = halves
        grounded = ground_term(term, sentence, used, repeated=keys[fold_key(term)] > 1)
        out.append(f"{grounded}{PAIR_SEP}{polarity}")
    return ITEM_SEP.join(out)
