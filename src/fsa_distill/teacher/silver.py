"""Silver ATSA labels from the teacher's structured analyses (issue 23, H3).

An analysis lists what the teacher found, block by block:

    Opinion Target 1: "egg tarts"
    Aspect: Food, Appearance/Flavor
    Sentiment: Positive
    Reasoning: ...

    Opinion Target 2: "The case"          (one target, several aspects, numbered)
    Aspect 1: General Assessment
    Sentiment 1: Very Positive
    Aspect 2: Durability
    Sentiment 2: Mildly Negative

From each analysis of a review this module makes (sentence, target string) pairs in the
benchmark's own example format, so they can be trained on beside or before the gold data:

1. the review is split into sentences (line breaks, and `.`/`!`/`?` followed by a space);
2. a target (not a bare pronoun: "it", "this") is kept where it occurs (case-insensitive, on word boundaries) in exactly one sentence
   of its review; the term is cut from that sentence's own characters, so the silver term is a
   span of the sentence, as gold terms are. A target found in no sentence (`"<$3 total"`, a
   paraphrase) or in several (`food` twice: which sentence the sentiment is about is not known)
   is dropped and counted;
3. the teacher's graded sentiment is mapped to the task's labels with the zero-shot grader
   (evaluation.zeroshot.sentiment_value): above 0 positive (Very Positive, Mildly Positive,
   Positive (Mild)), below 0 negative (Slightly negative, Very Negative), 0 neutral (Neutral, Mild,
   Mild Sentiment). Labels naming both directions or "mixed" are conflicts and labels with no
   reading ("Not specified", "Disappointment") are unreadable: both dropped and counted. A target
   whose aspects disagree in sign (Positive on one aspect, Negative on another) is dropped too: an
   ATSA pair has one polarity.
4. one example per sentence holds every silver target found in it, in sentence order.

The leak guard: the shipped reviews are Yelp/Amazon reviews, not the benchmark's SemEval sentences,
so no silver sentence should equal a benchmark sentence of any split; `leak_check` counts the
overlap (normalised whitespace and case) against every split of the named datasets, and
`agreement_with_gold` scores the silver labels against gold where a sentence is shared (expected:
nothing to score).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"

_TARGET = re.compile(r"^\s*Opinion\s+Target\s*[\d.]*\s*:\s*(.*)$", re.IGNORECASE)
_ASPECT = re.compile(r"^\s*Aspect\s*\d*\s*:\s*(.*)$", re.IGNORECASE)
_SENTIMENT = re.compile(r"^\s*Sentiment\s*\d*\s*:\s*(.*)$", re.IGNORECASE)
_QUOTED = re.compile(r"[\"\u201c\u201d]([^\"\u201c\u201d]+)[\"\u201c\u201d]")
# Targets that name nothing by themselves: the sentence's own words would be a wrong ATSA term.
PRONOUNS = frozenset("i me my we us our you your he him his she her it its they them their this that these those "
                     "one everything something anything all".split())
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


@dataclass
class TeacherTarget:
    """One `Opinion Target` block: the target text and the sentiment labels stated under it."""
    target: str
    aspects: list[str] = field(default_factory=list)
    sentiments: list[str] = field(default_factory=list)


def clean_target(raw: str) -> str | None:
    """The target's text: the first quoted string on the line, else the line without a trailing
    explanation in brackets; None for placeholders and implicit targets ("(implicit)", "N/A")."""
    m = _QUOTED.search(raw)
    text = m.group(1) if m else re.split(r"\s[(\[]|\s[-\u2013\u2014]\s", raw, maxsplit=1)[0]
    text = text.strip().strip("'\u2018\u2019").strip().rstrip(".,;:").strip()
    if not text or text.startswith(("(", "[")) or text.lower() in {"n/a", "none", "null", "implicit"}:
        return None
    return text


def parse_analysis(analysis: str) -> list[TeacherTarget]:
    """The `Opinion Target` blocks of one analysis, in order. Lines before the first target and
    fields other than Aspect/Sentiment (Reasoning, Note, ...) are ignored; a block whose target
    line holds no usable text is kept out."""
    blocks: list[TeacherTarget] = []
    current: TeacherTarget | None = None
    for line in analysis.splitlines():
        m = _TARGET.match(line)
        if m:
            target = clean_target(m.group(1))
            current = TeacherTarget(target) if target else None
            if current is not None:
                blocks.append(current)
            continue
        if current is None:
            continue
        if (m := _ASPECT.match(line)):
            current.aspects.append(m.group(1).strip())
        elif (m := _SENTIMENT.match(line)):
            current.sentiments.append(m.group(1).strip())
    return blocks


def map_sentiment(label: str) -> str | None:
    """The teacher's graded label -> positive / negative / neutral; "conflict" for a label that
    names both directions or "mixed"; None where it states no readable sentiment."""
    from fsa_distill.teacher.text import sentiment_value

    head = re.split(r"[(.,;\u2013\u2014]| - ", label.strip().lower(), maxsplit=1)[0]
    if "mixed" in head or ("positiv" in head and "negativ" in head):
        return "conflict"
    grade = sentiment_value(label)
    if grade is None:
        return None
    return POSITIVE if grade > 0 else NEGATIVE if grade < 0 else NEUTRAL


def target_polarity(block: TeacherTarget) -> tuple[str | None, str]:
    """(polarity, why not) for one target: every readable label must agree in sign."""
    mapped = [map_sentiment(s) for s in block.sentiments]
    if not block.sentiments:
        return None, "no_sentiment"
    if "conflict" in mapped:
        return None, "conflicting_sentiment"
    read = {m for m in mapped if m is not None}
    if not read:
        return None, "unreadable_sentiment"
    directional = read - {NEUTRAL}
    if len(directional) > 1:
        return None, "conflicting_sentiment"
    return (directional.pop() if directional else NEUTRAL), ""


def split_sentences(review: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the review's sentences, whitespace trimmed; a closing
    quote or bracket after the full stop stays with its sentence."""
    spans, start = [], 0
    cuts = [(m.start() + len(m.group(0).rstrip()), m.end()) for m in _SENTENCE_END.finditer(review)]
    for end, nxt in cuts + [(len(review), len(review))]:
        chunk = review[start:end]
        s, e = start + len(chunk) - len(chunk.lstrip()), start + len(chunk.rstrip())
        if e > s:
            spans.append((s, e))
        start = nxt
    return spans


def find_term(sentence: str, target: str) -> tuple[int, int] | None:
    """The first occurrence of `target` in `sentence`, case-insensitive, on word boundaries."""
    pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, target.split())) + r"(?!\w)"
    m = re.search(pattern, sentence, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


@dataclass
class SilverResult:
    examples: list = field(default_factory=list)   # benchmark.data.Example, split "silver"
    counts: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        pol = Counter(a.polarity for e in self.examples for a in e.aspects)
        return {"sentences": len(self.examples), "pairs": sum(len(e.aspects) for e in self.examples),
                "polarity": dict(sorted(pol.items())), **dict(sorted(self.counts.items()))}


def silver_from_analysis(review: str, analysis: str, review_id: str, counts: Counter | None = None) -> list:
    """Silver examples (benchmark.data.Example) of one review from its analysis."""
    from fsa_distill.benchmark.data import Aspect, Example

    counts = counts if counts is not None else Counter()
    spans = split_sentences(review)
    found: dict[int, dict[tuple[int, int], str]] = {}
    for block in parse_analysis(analysis):
        counts["targets"] += 1
        polarity, why = target_polarity(block)
        if polarity is None:
            counts[f"dropped_{why}"] += 1
            continue
        if block.target.lower() in PRONOUNS:
            counts["dropped_pronoun"] += 1
            continue
        hits = [(i, hit) for i, (s, e) in enumerate(spans) if (hit := find_term(review[s:e], block.target))]
        if not hits:
            counts["dropped_not_in_text"] += 1
            continue
        if len(hits) > 1:
            counts["dropped_in_several_sentences"] += 1
            continue
        i, span = hits[0]
        terms = found.setdefault(i, {})
        if span in terms:  # the same words named twice (two blocks on one term)
            if terms[span] != polarity:
                terms[span] = "conflict"
            counts["duplicate_target"] += 1
            continue
        terms[span] = polarity
        counts["kept"] += 1
    out = []
    for i in sorted(found):
        s, e = spans[i]
        sentence = review[s:e]
        aspects = tuple(Aspect(target=sentence[a:b], category=None, polarity=pol, start=str(a), end=str(b))
                        for (a, b), pol in sorted(found[i].items()) if pol != "conflict")
        counts["dropped_conflicting_duplicates"] += sum(1 for pol in found[i].values() if pol == "conflict")
        if aspects:
            out.append(Example(id=f"silver-{review_id}-{i}", sentence=sentence, aspects=aspects, split="silver"))
    return out


def silver_examples(records: Iterable, exclude_reviews: Iterable[str] = ()) -> SilverResult:
    """Silver examples from corpus records (student.pretrain_data.CorpusRecord: analyses only;
    rewrites have no structure). `exclude_reviews`: review texts not to use (e.g. the held-out
    reviews the teacher-agreement check reads)."""
    from fsa_distill.teacher.corpus_records import review_key

    banned = {review_key(t) for t in exclude_reviews}
    result = SilverResult()
    seen: set[str] = set()
    for rec in records:
        if rec.kind != "analysis":
            continue
        key = review_key(rec.text)
        if key in banned:
            result.counts["excluded_reviews"] += 1
            continue
        if key in seen:  # one review analysed twice: take the first answer
            result.counts["duplicate_reviews"] += 1
            continue
        seen.add(key)
        result.counts["analyses"] += 1
        result.examples += silver_from_analysis(rec.text, rec.response, key[:12], result.counts)
    return result


def _norm(sentence: str) -> str:
    return " ".join(sentence.split()).lower()


def leak_check(examples: Sequence, datasets: dict[str, list[str]], data_dir=None) -> dict:
    """How many silver sentences equal (whitespace and case normalised) a benchmark sentence, per
    task/dataset and split; 0 everywhere is the expected answer."""
    from fsa_distill.benchmark.data import SPLITS, load_split, split_path

    silver = {_norm(e.sentence) for e in examples}
    out = {}
    for task, names in datasets.items():
        for ds in names:
            for split in SPLITS:
                if split_path(task, ds, split, data_dir) is None:
                    continue
                gold = {_norm(e.sentence) for e in load_split(task, ds, split, data_dir)}
                out[f"{task}/{ds}/{split}"] = len(silver & gold)
    return {"silver_sentences": len(silver), "overlap": out, "total_overlap": sum(out.values())}


def agreement_with_gold(examples: Sequence, gold: Sequence) -> dict:
    """Silver against gold on the sentences both have: of the silver (term, polarity) pairs there,
    how many gold has too (0 sentences compared when the leak guard holds)."""
    by_sentence = {_norm(g.sentence): {((a.target or "").lower(), a.polarity) for a in g.aspects} for g in gold}
    compared = agree = sentences = 0
    for e in examples:
        gold_pairs = by_sentence.get(_norm(e.sentence))
        if gold_pairs is None:
            continue
        sentences += 1
        for a in e.aspects:
            compared += 1
            agree += (a.target.lower(), a.polarity) in gold_pairs
    return {"shared_sentences": sentences, "silver_pairs_compared": compared, "agree": agree,
            "agreement": agree / compared if compared else None}


def to_records(examples: Sequence) -> list[dict]:
    """The benchmark's JSON layout (benchmark/data.py), so `load_file` reads the file back."""
    return [{"ID": e.id, "sentence": e.sentence,
             "aspects": [{"from": a.start, "to": a.end, "target": a.target, "category": None,
                          "polarity": a.polarity} for a in e.aspects]} for e in examples]


def shipped_report(exclude_holdout: int = 50, seed: int = 42) -> dict:
    """Silver labels from the shipped teacher sample, with the leak check against every shipped
    benchmark split: the figures the evidence-v2 README quotes. The `exclude_holdout` reviews are
    the pretraining's held-out reviews (pretrain_data.split_holdout with the same seed), which the
    teacher-agreement check reads, so the silver data never includes them."""
    from fsa_distill.benchmark.data import TASK_DATASETS, load_split
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.teacher.corpus_records import read_records, split_holdout

    records = read_records([teacher_sample_path()])
    _, held = split_holdout(records, exclude_holdout, seed) if exclude_holdout else ([], [])
    result = silver_examples(records, exclude_reviews=[r.text for r in held])
    gold = [e for task, names in TASK_DATASETS.items() for ds in names for split in ("train", "dev", "test", "hard_test")
            for e in load_split(task, ds, split)]
    return {"silver": result.summary(), "excluded_held_out_reviews": len({r.text for r in held}),
            "leak_check": leak_check(result.examples, dict(TASK_DATASETS)),
            "agreement_with_gold": agreement_with_gold(result.examples, gold)}


if __name__ == "__main__":  # python -m fsa_distill.teacher.silver [OUT.json]
    import json
    import sys

    report = shipped_report()
    text = json.dumps(report, indent=1) + "\n"
    if sys.argv[1:]:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write(text)
    print(text, end="")
