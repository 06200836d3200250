"""Text normalisation shared by dedup, resume keys, replay lookup, leak guard and checks."""

from __future__ import annotations

import re
from typing import Optional
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Case, Unicode form and whitespace do not make two reviews different."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens; punctuation and spacing are ignored (used for containment tests)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def word_count(text: str) -> int:
    return len(text.split())


# ------------------------------------------------- graded sentiment labels (analyses)
_STRONG = re.compile(r"\b(?:very|extremely|strongly|highly|really|overwhelmingly|absolutely)\b")
_WEAK = re.compile(r"\b(?:mild|mildly|slightly|somewhat|moderately|weakly|a bit)\b")


def sentiment_value(label: str) -> Optional[float]:
    """A stated sentiment label on the teacher's 5-point scale -> grade; None if not a sentiment.
    Labels naming both polarities ("Positive/Negative") or none ("Mild Sentiment", "Mixed",
    "Neutral") are 0: stated, but no direction."""
    # Keep the label, not the explanation some answers append: "Positive (the reviewer ...)".
    text = re.split(r"[(.,;\u2013\u2014]| - ", label.strip().lower(), maxsplit=1)[0]
    pos, neg = "positiv" in text, "negativ" in text
    if pos == neg:
        return 0.0 if (pos or re.search(r"\b(?:neutral|mixed|mild|ambivalent)\b", text)) else None
    grade = 2.0 if _STRONG.search(text) else 0.5 if _WEAK.search(text) else 1.0
    return grade if pos else -grade
