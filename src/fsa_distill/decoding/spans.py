"""The one span matcher: where a term occurs in a text, under one of four equivalences.

    exact        the characters as they are (the reference scorer's substring test)
    ignore-case  case-insensitive (`re.IGNORECASE`)
    folded       lower case, accents stripped, whitespace ignored: what an uncased WordPiece
                 tokenizer keeps of a term ("wi - fi" finds "Wi - Fi", "creme" finds "crème")
    loose        `folded` with punctuation ignored as well ("wifi" finds "Wi-Fi")

`exact` and `ignore-case` return non-overlapping matches left to right (as `re.finditer`);
`folded` and `loose` return every match that starts and ends on a word boundary ("ice" is not
found inside "service"). Callers choose among the spans: grounding (decoding/grounding.py), the
predict API's span placement (inference/__init__.py) and the LLM answer parser (llm_prompts.py).
"""

from __future__ import annotations

import re
import unicodedata

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
