"""What every reader produces, and how it becomes benchmark-schema records.

Readers return `RawSentence`s with the labels and offsets as found; `finalize` maps polarity
labels, checks text, finds or repairs offsets and merges duplicates, counting everything it
changes or drops in an `ImportReport` (written to dataset.json and printed), so nothing is lost
silently. Errors name the file and the line or record (`RawSentence.where`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fsa_distill import limits
from fsa_distill.benchmark.data import POLARITIES, text_problem
from fsa_distill.errors import FsaError

# Labels accepted without --label-map (case-insensitive). "0" is neutral here, as in the PyABSA /
# ABSADatasets -1/0/1 convention; data labelled 0/1/2 needs an explicit map.
DEFAULT_LABELS = {
    "positive": "positive", "pos": "positive", "p": "positive", "1": "positive", "+1": "positive",
    "negative": "negative", "neg": "negative", "n": "negative", "-1": "negative",
    "neutral": "neutral", "neu": "neutral", "0": "neutral",
    "conflict": "conflict", "conf": "conflict", "mixed": "conflict", "both": "conflict",
}
IMPLICIT = ("NULL", "null", "", None)
# Characters XML 1.0 cannot carry (C0 controls but tab, LF, CR; U+FFFE/U+FFFF): a sentence or term
# holding one would make `data export` write XML no parser reads. Replaced by a space (offsets keep).
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_LISTED = 20  # the places (file: line N) dataset.json lists per counted reason


@dataclass
class RawAspect:
    target: str | None              # None / "NULL" / "": implicit
    polarity: Any                   # the label as found: "pos", 1, "Positive", ...
    category: str | None = None
    start: int | None = None        # character offsets when the file has them
    end: int | None = None
    occurrence: int | None = None   # which occurrence of target (SetFit's `ordinal`), 0-based
    opinion_words: Any = None


@dataclass
class RawSentence:
    id: str | None
    text: str
    aspects: list[RawAspect]
    where: str                      # "FILE: line N" or "FILE: record N", starts every error


@dataclass
class ImportReport:
    dropped: Counter = field(default_factory=Counter)   # reason -> count
    repaired: Counter = field(default_factory=Counter)
    merged: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    where: dict[str, list[str]] = field(default_factory=dict)  # reason -> first MAX_LISTED places

    def count(self, kind: str, reason: str, where: str) -> None:
        """Count one dropped/repaired/merged item and remember where it was (FILE: line N)."""
        getattr(self, kind)[reason] += 1
        places = self.where.setdefault(reason, [])
        if len(places) < MAX_LISTED:
            places.append(where)

    def as_dict(self) -> dict:
        return {"dropped": dict(self.dropped), "repaired": dict(self.repaired), "merged": dict(self.merged),
                "notes": self.notes, "where": self.where}


def label_mapper(label_map: dict[str, str] | None):
    """label -> polarity. An explicit map replaces the defaults (so 0/1/2 can mean neg/neu/pos)."""
    table = {str(k).strip().lower(): v for k, v in (label_map or DEFAULT_LABELS).items()}
    bad = {v for v in table.values() if v not in POLARITIES}
    if bad:
        raise FsaError(f"--label-map: {limits.echo(sorted(bad))} not among {', '.join(POLARITIES)}")

    def to_polarity(label: Any, where: str) -> str:
        key = str(label).strip().lower() if label is not None else ""
        if isinstance(label, float) and label.is_integer():
            key = str(int(label))
        if key not in table:
            raise FsaError(f"{where}: unknown polarity label {limits.echo(label)} "
                           f"(known: {', '.join(sorted(table))}; map it with --label-map LABEL=positive,...)")
        return table[key]

    return to_polarity


def _occurrences(text: str, term: str) -> list[int]:
    out, k = [], text.find(term)
    while k >= 0:
        out.append(k)
        k = text.find(term, k + 1)
    return out


def locate(s: RawSentence, a: RawAspect, used: set[tuple[int, int]], report: ImportReport,
           split: str) -> tuple[int, int]:
    """Character offsets of an explicit target: as given when they point at it; else re-found
    (nearest occurrence to the given start, or the next occurrence not yet taken by another
    aspect with the same term, so repeated terms get their own spans)."""
    term = a.target
    if a.start is not None and a.end is not None and 0 <= a.start <= a.end <= len(s.text) \
            and s.text[a.start:a.end] == term:  # (a negative start would slice from the end)
        return a.start, a.end
    hits = _occurrences(s.text, term)
    if not hits:
        raise FsaError(f"{s.where}{_sid(s)}: aspect {limits.echo(term)} does not occur in the sentence")
    if a.occurrence is not None:
        if not 0 <= a.occurrence < len(hits):
            raise FsaError(f"{s.where}{_sid(s)}: occurrence {a.occurrence} of {limits.echo(term)}: "
                           f"the sentence has {len(hits)}")
        k = hits[a.occurrence]
    elif a.start is not None:
        k = min(hits, key=lambda h: abs(h - a.start))
        report.repaired[f"{split}: offsets re-found (they did not point at the term)"] += 1
    else:
        free = [h for h in hits if (h, h + len(term)) not in used]
        k = (free or hits)[0]
    return k, k + len(term)


def _sid(s: RawSentence) -> str:
    return f" (ID {s.id})" if s.id is not None and len(str(s.id)) <= limits.MAX_ECHO_CHARS else ""


def _xml_safe(v):
    return XML_UNSAFE.sub(" ", v) if isinstance(v, str) else v


def to_record(s: RawSentence, task: str, to_polarity, report: ImportReport, split: str) -> dict:
    """One benchmark-schema record: {"ID", "sentence", "aspects": [{from, to, target, category, polarity}]}.
    Offsets are ints (reading order for ATSA targets); implicit targets are "NULL" without offsets."""
    problem = text_problem(s.text)
    if problem:
        raise FsaError(f"{s.where}{_sid(s)}: sentence: {problem}")
    fields = [s.text, s.id, *(x for a in s.aspects for x in (a.target, a.category))]
    if any(isinstance(v, str) and XML_UNSAFE.search(v) for v in fields):
        s.text, s.id = _xml_safe(s.text), _xml_safe(s.id)
        for a in s.aspects:
            a.target, a.category = _xml_safe(a.target), _xml_safe(a.category)
        report.count("repaired", f"{split}: control characters (NUL, \\x0b, ...) replaced by spaces", s.where)
    aspects, used = [], set()
    for a in s.aspects:
        pol = to_polarity(a.polarity, f"{s.where}{_sid(s)}")
        cat = a.category.strip() if isinstance(a.category, str) and a.category.strip() else None
        if task == "acsa" and not cat:
            raise FsaError(f"{s.where}{_sid(s)}: an aspect without a category (ACSA needs ENTITY#ATTRIBUTE)")
        out = {"from": None, "to": None, "target": "NULL", "category": cat, "polarity": pol}
        if a.target not in IMPLICIT and a.target != a.target.strip():
            a.target = a.target.strip()  # " food" from a hand-made table: the term is "food"
            report.repaired[f"{split}: spaces around a term removed"] += 1
        if a.target not in IMPLICIT:
            out["from"], out["to"] = locate(s, a, used, report, split)
            out["target"] = a.target
            used.add((out["from"], out["to"]))
        if a.opinion_words is not None:
            out["opinion_words"] = a.opinion_words
        aspects.append(out)
    return {"ID": s.id, "sentence": s.text, "aspects": aspects}


def finalize(sentences: list[RawSentence], task: str, split: str, to_polarity, report: ImportReport) -> list[dict]:
    """Records for one split: ids given where missing (`<split>-<n>`), duplicates merged or reported."""
    records: list[dict] = []
    by_id: dict[str, dict] = {}
    texts: Counter = Counter()
    for n, s in enumerate(sentences):
        rec = to_record(s, task, to_polarity, report, split)  # errors name the file's own id, if any
        rec["ID"] = f"{split}-{n}" if s.id is None or str(s.id).strip() == "" else str(s.id)
        texts[rec["sentence"]] += 1
        old = by_id.get(rec["ID"])
        if old is None:
            by_id[rec["ID"]] = rec
            records.append(rec)
        elif old["sentence"] == rec["sentence"]:
            new = [a for a in rec["aspects"] if a not in old["aspects"]]
            if new:
                old["aspects"].extend(new)
                report.merged[f"{split}: records with the same ID and sentence merged"] += 1
            else:
                report.dropped[f"{split}: exact duplicate records"] += 1
        else:
            k = 2
            while f"{rec['ID']}#{k}" in by_id:
                k += 1
            rec["ID"] = f"{rec['ID']}#{k}"
            by_id[rec["ID"]] = rec
            records.append(rec)
            report.repaired[f"{split}: IDs reused for another sentence, renamed ID#k"] += 1
    dup = sum(c - 1 for c in texts.values() if c > 1)
    if dup:
        report.notes.append(f"{split}: {dup} sentence(s) repeated under different IDs, kept (as in the SemEval data)")
    return records
