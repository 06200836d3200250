"""Target strings and their parser, exactly as the reference builds and reads them (docs/reference.md §2c, §3).

ATSA: `term | polarity ; term | polarity`, implicit targets dropped, (term, polarity, offsets)
triples deduplicated, ordered by the (from, to) offsets *as stored* - strings in train/dev/test, so
"22" sorts before "4". That quirk decides what the model is trained to emit, so we keep it.
ACSA: `category lower-cased with '#' as ' ' | polarity`, in annotation order, exact duplicates removed.
"""

from __future__ import annotations

from fsa_distill.benchmark.data import POLARITIES, Example

PAIR_SEP = " | "
ITEM_SEP = " ; "


def atsa_target(example: Example) -> str:
    triples = set()
    for a in example.aspects:
        if a.is_implicit:
            continue
        triples.add((a.target, a.polarity, (a.start or 0, a.end or 0)))
    try:
        ordered = sorted(triples, key=lambda t: t[2])
    except TypeError:  # a user file mixing string and int offsets in one sentence
        ordered = sorted(triples, key=lambda t: (str(t[2][0]), str(t[2][1])))
    return ITEM_SEP.join(f"{t}{PAIR_SEP}{p}" for t, p, _ in ordered)


def acsa_category(category: str) -> str:
    return category.lower().replace("#", " ")


def acsa_target(example: Example) -> str:
    items: list[str] = []
    for a in example.aspects:
        item = f"{acsa_category(a.category)}{PAIR_SEP}{a.polarity}"
        if item not in items:
            items.append(item)
    return ITEM_SEP.join(items)


def make_target(task: str, example: Example) -> str:
    return atsa_target(example) if task == "atsa" else acsa_target(example)


def split_items(seq: str) -> list[tuple[str, tuple[str, str] | None]]:
    """Each ';'-separated chunk of a target string, stripped, with its two stripped halves when it
    has exactly one '|' (else None: the reference parser drops such a chunk)."""
    out = []
    for chunk in seq.split(";"):
        chunk = chunk.strip()
        halves = tuple(x.strip() for x in chunk.split("|")) if chunk.count("|") == 1 else None
        out.append((chunk, halves))
    return out


def parse_pairs(task: str, seq: str, sentence: str) -> list[tuple[str, str]]:
    """Parse a generated (or gold) string into (aspect-or-category, polarity) pairs.

    Chunks that do not have exactly one '|', an unknown polarity, or (ATSA) an aspect that is not
    a case-sensitive substring of the sentence are dropped, as in the reference.
    """
    pairs = []
    for _, halves in split_items(seq):
        if halves is None:
            continue
        left, pol = halves
        if task == "atsa" and left not in sentence:
            continue
        if pol not in POLARITIES:
            continue
        pairs.append((left, pol))
    return pairs


def gold_pairs(task: str, example: Example) -> list[tuple[str, str]]:
    """The reference derives gold pairs by parsing the gold target string with the same parser."""
    return parse_pairs(task, make_target(task, example), example.sentence)
