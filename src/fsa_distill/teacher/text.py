"""Text normalisation shared by dedup, resume keys, replay lookup, leak guard and checks."""

from __future__ import annotations

import re
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
