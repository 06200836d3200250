"""The extractive student's codec: gold aspects -> tags, and tags -> the reference's target strings.

The extractive (`tagger`) student does not generate text: it labels the sentence's own tokens
and writes the same target strings a generative student is trained to write, so the scorer,
`evaluate`, `predict` and `serve` take it with no special case.

ATSA: each token gets a BIO tag (is it the beginning of, inside, or outside an aspect term) and
a polarity distribution over POLARITIES. A term is a run B I I ...; its characters are cut from
the sentence itself (first token's start to last token's end), so case, accents and spacing are
the sentence's and no grounding is needed. Its polarity is the mean of its tokens'
distributions: every polarity with a mean of at least 0.5 (the gold encoding is multi-hot, so a
span annotated twice with two polarities - 27 of the shipped hard_test spans - round-trips; a
softmax model can only reach two at exactly 0.5 each), else the argmax. Targets are written in
the reference's order: by their offsets as strings (docs/reference.md §2c; the quirk makes
"22" sort before "4"), deduplicated as (term, polarity, offsets) triples.

Where a gold term sits: the file's offsets where sentence[from:to] is the term, else the
occurrence of the term nearest to `from` (88 laptop14 train and 15 dev offsets are off by a few
characters; benchmark/quirks.py). Implicit targets (NULL) have no span and are not tagged, as the
reference drops them from the target string.

ACSA: per category, a presence probability and one probability per polarity: every category of
at least 0.5 with its polarities of at least 0.5 (else its most probable), in the inventory's
order. The inventory is entity x attribute of the categories seen in train and dev, so
laptop16's 13 test and 24 hard_test categories that train never names as a whole are still in
the label space.

The round trip gold -> tags -> strings scores F1 100 with the reference scorer on every split of
the shipped benchmark (tests/decoding/test_tags.py).
"""

from __future__ import annotations

from typing import Sequence

from fsa_distill.benchmark.data import POLARITIES, Example
from fsa_distill.benchmark.targets import ITEM_SEP, PAIR_SEP, acsa_category

BIO = ("O", "B", "I")
O_TAG, B_TAG, I_TAG = 0, 1, 2
IGNORE = -100  # label of special and padding tokens: not trained on


# ------------------------------------------------------------------------------------ ATSA
def gold_spans(example: Example) -> list[tuple[int, int, str]]:
    """(start, end, polarity) of every explicit aspect term, in character offsets."""
    out = []
    for a in example.aspects:
        if a.is_implicit or not a.target:
            continue
        span = locate(example.sentence, a.target, a.start)
        if span is not None:
            out.append((*span, a.polarity))
    return out


def locate(sentence: str, term: str, hint) -> tuple[int, int] | None:
    """The term's span: at the file's offset if it is there, else the occurrence nearest to it."""
    try:
        start = int(hint)
    except (TypeError, ValueError):
        start = 0
    if sentence[start:start + len(term)] == term:
        return start, start + len(term)
    found, i = [], sentence.find(term)
    while i >= 0:
        found.append(i)
        i = sentence.find(term, i + 1)
    if not found:
        return None
    best = min(found, key=lambda j: abs(j - start))
    return best, best + len(term)


def split_tokens(ids: Sequence[int], offsets: Sequence[tuple[int, int]], cuts: Sequence[int],
                 ) -> tuple[list[int], list[tuple[int, int]]]:
    """Split every token that a gold term boundary falls inside (`cuts`: character positions) into
    two with the same id. Three gold terms of the shipped train/dev files end inside a word
    (`chicken in curry sauc`, `dress cod`): their tags could not say so otherwise. Only training
    labels are cut; at inference there are no cuts, and the model reads the sentence as tokenized."""
    out_ids, out_offsets = [], []
    for i, (a, b) in zip(ids, offsets):
        inner = sorted({c for c in cuts if a < c < b})
        for s, e in zip([a, *inner], [*inner, b]):
            out_ids.append(i)
            out_offsets.append((s, e))
    return out_ids, out_offsets


def encode_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]],
                 ) -> tuple[list[int], list[list[float] | None]]:
    """Per token: a BIO tag (IGNORE for special tokens, whose offsets are (0, 0)) and a multi-hot
    polarity vector for tokens inside a term (None elsewhere)."""
    tags = [IGNORE if s == e else O_TAG for s, e in offsets]
    pols: list[list[float] | None] = [None] * len(offsets)
    merged: dict[tuple[int, int], set[str]] = {}
    for s, e, p in spans:
        merged.setdefault((s, e), set()).add(p)
    for (s, e), polarities in sorted(merged.items()):
        inside = [k for k, (a, b) in enumerate(offsets) if a < b and a < e and b > s]
        for n, k in enumerate(inside):
            tags[k] = B_TAG if n == 0 else I_TAG
            pols[k] = [1.0 if p in polarities else 0.0 for p in POLARITIES]
    return tags, pols


def decode_spans(offsets: Sequence[tuple[int, int]], tags: Sequence[int],
                 pol_probs: Sequence[Sequence[float]]) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, polarities) of every tagged run: B starts a term, I continues it (an I after
    O starts one too, so a model that skips the B still finds the term)."""
    runs: list[list[int]] = []
    prev = O_TAG
    for k, ((a, b), tag) in enumerate(zip(offsets, tags)):
        if a == b:
            prev = O_TAG
            continue
        if tag == B_TAG or (tag == I_TAG and prev == O_TAG):
            runs.append([k])
        elif tag == I_TAG:
            runs[-1].append(k)
        prev = tag
    out = []
    for run in runs:
        mean = [sum(pol_probs[k][j] for k in run) / len(run) for j in range(len(POLARITIES))]
        out.append((offsets[run[0]][0], offsets[run[-1]][1], polarities_of(mean)))
    return out


def atsa_string(sentence: str, spans: Sequence[tuple[int, int, Sequence[str]]]) -> str:
    """The reference's ATSA target string for these spans: (term, polarity, offsets) triples,
    deduplicated, ordered by the offsets written as strings (the train/dev/test files' order)."""
    triples = {(sentence[s:e].strip(), p, (str(s), str(e))) for s, e, ps in spans for p in ps
               if sentence[s:e].strip()}
    return ITEM_SEP.join(f"{t}{PAIR_SEP}{p}" for t, p, _ in sorted(triples, key=lambda t: (t[2], t[1])))


def polarities_of(probs: Sequence[float]) -> tuple[str, ...]:
    """Every polarity with a probability of at least 0.5, else the most probable one (a term's mean
    distribution for ATSA, a category's polarity sigmoids for ACSA)."""
    return tuple(p for p, v in zip(POLARITIES, probs) if v >= 0.5) or \
        (POLARITIES[max(range(len(probs)), key=probs.__getitem__)],)


# ------------------------------------------------------------------------------------ ACSA
def category_inventory(examples: Sequence[Example]) -> list[str]:
    """ENTITY#ATTRIBUTE for every entity and attribute seen (in first-seen order of entities,
    then attributes): the label space of the category head."""
    entities, attributes, plain = {}, {}, {}
    for ex in examples:
        for a in ex.aspects:
            if not a.category:
                continue
            if "#" in a.category:
                e, _, t = a.category.partition("#")
                entities.setdefault(e, None)
                attributes.setdefault(t, None)
            else:
                plain.setdefault(a.category, None)
    return [f"{e}#{t}" for e in entities for t in attributes] + list(plain)


def encode_categories(example: Example, inventory: Sequence[str]) -> list[float]:
    """Multi-hot over inventory x POLARITIES (row-major: category, then polarity)."""
    index = {c: i for i, c in enumerate(inventory)}
    labels = [0.0] * (len(inventory) * len(POLARITIES))
    for a in example.aspects:
        if a.category in index:
            labels[index[a.category] * len(POLARITIES) + POLARITIES.index(a.polarity)] = 1.0
    return labels


def acsa_string(present: Sequence[float], polarity: Sequence[Sequence[float]], inventory: Sequence[str]) -> str:
    """Every category with a presence probability of at least 0.5, in inventory order, as the
    reference writes categories (lower-cased, '#' as ' '), each with every polarity of probability
    at least 0.5, else its most probable one. No category may reach 0.5: 13-29% of the shipped
    ACSA train/dev/test sentences have none, so one is not forced."""
    items = []
    for i in (i for i, p in enumerate(present) if p >= 0.5):
        items += [f"{acsa_category(inventory[i])}{PAIR_SEP}{pol}" for pol in polarities_of(polarity[i])]
    return ITEM_SEP.join(items)


def split_categories(labels: Sequence[float], n_categories: int) -> tuple[list[float], list[list[float]]]:
    """A multi-hot (category, polarity) vector (encode_categories) as the head's two outputs:
    presence per category, and per category its polarities (multi-hot)."""
    n_pol = len(POLARITIES)
    rows = [list(labels[i * n_pol:(i + 1) * n_pol]) for i in range(n_categories)]
    return [max(r) for r in rows], rows
