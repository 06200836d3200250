"""The one span matcher: where a term occurs in a text, under one of four equivalences.

    exact        the characters as they are (the reference scorer's substring test)
    ignore-case  case-insensitive (`re.IGNORECASE`)
    folded       lower case, accents stripped, whitespace ignored: what an uncased WordPiece
                 tokenizer keeps of a term ("wi - fi" finds "Wi - Fi", "creme" finds "crème")
    loose        `folded` with punctuation ignored as well ("wifi" finds "Wi-Fi")

`exact` and `ignore-case` return non-overlapping matches left to right (as `re.finditer`);
`folded` and `loose` return every match that starts and ends on a word boundary ("ice" is not
found inside "service"). Callers choose among the spans: grounding (decoding/grounding.py), the
predict API's span placement (`locate_spans`, `one_per_place` below, used by
inference/__init__.py) and the LLM answer parser (llm_prompts.py).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

Span = tuple[int, int]
HOW = ("exact", "ignore-case", "folded", "loose")


def _fold(ch: str) -> str:
    """What an uncased tokenizer keeps of one character: lower case without accents."""
    decomposed = unicodedata.normalize("NFD", ch.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _keep(ch: str, strict: bool) -> bool:
    return not ch.isspace() and (strict or ch.isalnum())


def fold_key(text: str, loose: bool = False) -> str:
    """The text as `folded` (or `loose`) matching compares it."""
    return "".join(_fold(c) for c in text if _keep(c, not loose))


def _keyed(text: str, strict: bool) -> tuple[str, list[int]]:
    """The text's key and, for each key character, the index of the text character it came from."""
    chars, origin = [], []
    for i, c in enumerate(text):
        if _keep(c, strict):
            folded = _fold(c)
            chars.append(folded)
            origin += [i] * len(folded)
    return "".join(chars), origin


def _on_boundary(text: str, start: int, end: int) -> bool:
    """The span neither begins nor ends inside a word."""
    left = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    right = end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
    return left and right


def _folded_spans(term: str, text: str, strict: bool) -> list[Span]:
    key = fold_key(term, loose=not strict)
    if not key:
        return []
    keyed, origin = _keyed(text, strict)
    spans: list[Span] = []
    at = keyed.find(key)
    while at != -1:
        start, end = origin[at], origin[at + len(key) - 1] + 1
        if _on_boundary(text, start, end) and (start, end) not in spans:
            spans.append((start, end))
        at = keyed.find(key, at + 1)
    return spans


def find_spans(term: str, text: str, how: str = "exact") -> list[Span]:
    """The spans of `text` that spell `term` under the equivalence `how` (see the module), in
    reading order; [] for an empty term."""
    if how in ("exact", "ignore-case"):
        if not term:
            return []
        flags = re.IGNORECASE if how == "ignore-case" else 0
        return [m.span() for m in re.finditer(re.escape(term), text, flags)]
    if how in ("folded", "loose"):
        return _folded_spans(term, text, strict=how == "folded")
    raise ValueError(f"unknown match {how!r}: expected one of {', '.join(HOW)}")


# ------------------------------------------------------------------ span placement (predict API)
def _pick(exact: list[tuple[int, int]], folded: list[tuple[int, int]],
          used: list[tuple[int, int]]) -> tuple[int, int] | None:
    # Prefer an occurrence no other term has claimed (so "rice" is not placed inside "fried
    # rice" when it also occurs alone), then one not claimed by an identical span, then any;
    # within each, an exact match before a case-insensitive one ("waiter" then "Waiter").
    def free(m):
        return all(m[1] <= s or m[0] >= e for s, e in used)

    for keep in (free, lambda m: m not in used, lambda m: True):
        for matches in (exact, folded):
            group = [m for m in matches if keep(m)]
            if group:
                return group[0]
    return None


def locate_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int] | None]:
    """Character span of each term in `text`: its first occurrence not used by another term, so a
    repeated term gets successive spans; exact match first, then case-insensitive; None if absent.
    When the text holds a term fewer times than asked, the extra ones reuse a span (which
    `one_per_place` then drops). Longer terms are placed first so that a short term does not take a
    spot inside a long one."""
    spans: list[tuple[int, int] | None] = [None] * len(terms)
    used: list[tuple[int, int]] = []
    for i in sorted(range(len(terms)), key=lambda i: -len(terms[i])):  # stable: repeats keep order
        span = _pick(find_spans(terms[i], text, "exact"), find_spans(terms[i], text, "ignore-case"), used)
        if span is not None:
            spans[i] = span
            used.append(span)
    return spans


def _inside(span: tuple[int, int], other: tuple[int, int]) -> bool:
    return other[0] <= span[0] and span[1] <= other[1]


def one_per_place(spans: Sequence[Span | None]) -> set[int]:
    """The indices of `spans` that keep their place: longest first (as `locate_spans` places
    them), then in generated order; a span repeated or lying inside one already kept is dropped
    ("wine" inside "wine list"; a repeat the text holds fewer times than the model wrote it)."""
    kept: set[int] = set()
    for i in sorted((i for i, s in enumerate(spans) if s), key=lambda i: (spans[i][0] - spans[i][1], i)):
        if not any(_inside(spans[i], spans[j]) for j in kept):
            kept.add(i)
    return kept
