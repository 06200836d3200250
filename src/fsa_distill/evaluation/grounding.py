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

import unicodedata
from collections import Counter

from fsa_distill.benchmark.targets import ITEM_SEP, PAIR_SEP

Span = tuple[int, int]


def _fold(ch: str) -> str:
    """What an uncased tokenizer keeps of one character: lower case without accents."""
    decomposed = unicodedata.normalize("NFD", ch.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _keep(ch: str, strict: bool) -> bool:
    return not ch.isspace() and (strict or ch.isalnum())


def _key(text: str, strict: bool) -> str:
    return "".join(_fold(c) for c in text if _keep(c, strict))


def _keyed(sentence: str, strict: bool) -> tuple[str, list[int]]:
    """The sentence's key and, for each key character, the index of the sentence character it came from."""
    chars, origin = [], []
    for i, c in enumerate(sentence):
        if _keep(c, strict):
            folded = _fold(c)
            chars.append(folded)
            origin += [i] * len(folded)
    return "".join(chars), origin


def _on_boundary(sentence: str, start: int, end: int) -> bool:
    """The span neither begins nor ends inside a word ("ice" is not grounded in "service")."""
    left = start == 0 or not (sentence[start - 1].isalnum() and sentence[start].isalnum())
    right = end == len(sentence) or not (sentence[end - 1].isalnum() and sentence[end].isalnum())
    return left and right


def candidate_spans(term: str, sentence: str) -> list[Span]:
    """Word-aligned spans of `sentence` that spell `term` up to case, accents, spacing (and, as a
    fallback, punctuation), in reading order."""
    for strict in (True, False):
        key = _key(term, strict)
        if not key:
            continue
        text, origin = _keyed(sentence, strict)
        spans, at = [], text.find(key)
        while at != -1:
            start, end = origin[at], origin[at + len(key) - 1] + 1
            if _on_boundary(sentence, start, end) and (start, end) not in spans:
                spans.append((start, end))
            at = text.find(key, at + 1)
        if spans:
            return spans
    return []


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
    chunks = [c.strip() for c in prediction.split(";")]
    pairs = [tuple(x.strip() for x in c.split("|")) if c.count("|") == 1 else None for c in chunks]
    keys = Counter(_key(p[0], True) for p in pairs if p)
    used: set[Span] = set()
    items = []
    for chunk, pair in zip(chunks, pairs):
        if pair is None:  # unparseable: the scorer drops it; keep it for the record
            items.append(chunk)
            continue
        term, polarity = pair
        grounded = ground_term(term, sentence, used, repeated=keys[_key(term, True)] > 1)
        items.append(f"{grounded}{PAIR_SEP}{polarity}")
    return ITEM_SEP.join(items)
