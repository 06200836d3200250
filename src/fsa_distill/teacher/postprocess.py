"""Turn a raw teacher answer into a corpus record's response, parse and verdict.

What this cleans is what the reference corpus shows (docs/reference.md §4f, and the shipped
sample): trailing "Confidence: 90%", "Note:", "Consent:", "Response:" blocks, a new invented
"Review: ..." with its own analysis, restarted numbering, separator lines. Analyses are parsed into
(target, aspect, sentiment, reasoning, implicit) tuples. Checks then name what is wrong; the config
decides which of those names drop a record (ok=false) and which only flag it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from fsa_distill.teacher.text import words

# A line that starts the teacher's commentary or a new made-up task, never part of the answer.
_JUNK_LINE = re.compile(
    r"^\s*(?:[-*#]+\s*)?(?:"
    r"confidence(?:\s+\w+)?\s*[:=]|notes?\s*[:=]|consent\s*:|id\s*:|response(?:\s+\w+)?\s*:|"
    r"review(?:\s*\d+|\s+summary)?\s*:|(?:example|sample)(?:\s+\w+)?\s*\d*\s*:|answer(?:\s+\w+){0,3}\s*:|"
    r"solution\s*:|final answer\s*:|explanation\s*:|disclaimer\s*:|your (?:task|output)\s*:|"
    r"to test\b|additional information\s*:|limitations\s*:|bias\s*:|expectations\s*:|"
    r"let'?s (?:analy[sz]e|look at|try|move on to) (?:another|the next)|submit your answer|part \d+\s*:|"
    r"-{3,}|={3,}|\.\.\.\s*$|\(note\b)",
    re.IGNORECASE)
# A label some answers start with; the answer itself follows it.
_LEAD_LABEL = re.compile(r"^\s*(?:rewritten(?:\s+review)?|rewrite|answer|response|output|analysis)\s*:\s*",
                         re.IGNORECASE)
_TARGET_LINE = re.compile(r"^\s*Opinion Target\s*(\d+)?\s*:\s*(.*)$", re.IGNORECASE)
_FIELD = re.compile(r"^\s*(Aspect|Sentiment|Reasoning)(?:\s*\d+)?\s*:\s*(.*)$", re.IGNORECASE)
# Fields run together on one line: `"x" -- Aspect: ...` or `"x", Aspect: ..., Sentiment: ...`.
_INLINE_SEP = re.compile(r"(?:\s+-{1,2}|,|;)\s+(?=(?:Aspect|Sentiment|Reasoning)(?:\s*\d+)?\s*:)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"your own analysis|<\s*(?:target|aspect|sentiment|reasoning)\s*>|\[insert", re.IGNORECASE)
# The teacher's own words for a sentiment it inferred rather than read. "implies" alone is not
# enough: Mixtral writes "the word 'great' implies a positive sentiment" about explicit opinions.
_IMPLICIT = re.compile(r"\b(?:implied|implicit(?:ly)?|indirect(?:ly)?|not (?:directly|explicitly) (?:stated|expressed|mentioned))\b",
                       re.IGNORECASE)
_QUOTES = "\"'“”‘’`"

# Function words: English ones, and frequent ones of other languages a teacher slips into that are
# not English words. A cheap, dependency-free language check that also works on terse analyses.
_EN_STOP = frozenset(
    "a about after all also an and any are as at be because been but by can could did do does for from "
    "had has have he her his how i if in into is it its just me more most my no not of on one only or "
    "our out so some than that the their them then there these they this to too up very was we were "
    "what when which while who will with would you your".split())
_FOREIGN_STOP = frozenset(
    "der die das und ist nicht ein eine ich mit sie wir auch sehr aber oder wenn dass für auf sind "
    "le la les est et une des que pas pour avec sur dans très mais "
    "el los las es y por para con muy pero una del lo "
    "il di che non per della sono molto gli "
    "não uma com mas muito".split())

@dataclass
class Verdict:
    response: str
    parsed: Optional[list[dict]]
    flags: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drops


def clean_response(raw: str, kind: str) -> tuple[str, list[str]]:
    """Strip junk; returns (clean text, flags naming what was removed)."""
    flags: list[str] = []
    text = raw.replace("\r\n", "\n").strip()
    stripped = _LEAD_LABEL.sub("", text, count=1)
    if stripped != text:
        flags.append("leading_label")
        text = stripped.strip()
    lines = text.split("\n")
    keep: list[str] = []
    seen_targets: list[int] = []
    for line in lines:
        if keep and any(x.strip() for x in keep) and _JUNK_LINE.match(line):
            flags.append("junk_stripped")
            break
        m = _TARGET_LINE.match(line) if kind == "analysis" else None
        if m and m.group(1):
            n = int(m.group(1))
            # "Opinion Target 1" again: the teacher has started over, usually on a review it made up.
            if seen_targets and n <= seen_targets[-1]:
                flags.append("restart_stripped")
                break
            seen_targets.append(n)
        keep.append(line.rstrip())
    text = "\n".join(keep).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text, flags


def _strip_quotes(s: str) -> str:
    s = s.strip().rstrip(",;")
    if len(s) >= 2 and s[0] in _QUOTES and s[-1] in _QUOTES:
        s = s[1:-1]
    return s.strip()


def parse_analysis(text: str) -> tuple[list[dict], int]:
    """Blocks of Opinion Target / Aspect / Sentiment / Reasoning -> tuples, and the number of
    blocks that could not be read (no sentiment, placeholder text). A target with several
    "Aspect N:" groups gives one tuple per group."""
    tuples: list[dict] = []
    bad = 0
    blocks: list[tuple[str, list[str]]] = []
    for line in _INLINE_SEP.sub("\n", text).split("\n"):
        m = _TARGET_LINE.match(line)
        if m:
            rest = _INLINE_SEP.sub("\n", m.group(2)).split("\n")
            blocks.append((rest[0], rest[1:]))
        elif blocks:
            blocks[-1][1].append(line)
    for target_raw, body in blocks:
        target = _strip_quotes(target_raw)
        current: Optional[dict] = None
        groups: list[dict] = []
        for line in body:
            m = _FIELD.match(line)
            if m:
                name, value = m.group(1).lower(), m.group(2).strip()
                if name == "aspect" or current is None or name in current:
                    current = {}
                    groups.append(current)
                current[name] = value
            elif current is not None and line.strip() and "reasoning" in current:
                current["reasoning"] += " " + line.strip()  # reasoning that wraps onto more lines
        if not groups:
            bad += 1
            continue
        for g in groups:
            sentiment = g.get("sentiment", "").strip().rstrip(".")
            if not target or not sentiment or _PLACEHOLDER.search(target + " " + " ".join(g.values())):
                bad += 1
                continue
            reasoning = g.get("reasoning", "").strip()
            tuples.append({"target": target, "aspect": g.get("aspect", "").strip(), "sentiment": sentiment,
                           "reasoning": reasoning, "implicit": bool(_IMPLICIT.search(reasoning))})
    return tuples, bad


def target_in_review(target: str, review_words: list[str]) -> bool:
    """True if the target's words occur in the review in order (punctuation and case ignored)."""
    tw = words(target)
    if not tw:
        return False
    n = len(tw)
    return any(review_words[i:i + n] == tw for i in range(len(review_words) - n + 1))


def looks_english(text: str) -> bool:
    """False when most letters are non-Latin, or foreign function words outnumber English ones."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    if sum(1 for c in letters if not c.isascii()) / len(letters) > 0.2:
        return False
    toks = words(text)
    foreign = sum(t in _FOREIGN_STOP for t in toks)
    return foreign < 3 or foreign <= sum(t in _EN_STOP for t in toks)


def judge(review: str, kind: str, raw: str, finish_reason: Optional[str], drop: list[str],
          error: Optional[str] = None) -> Verdict:
    """Clean, parse and check one answer. `drop` lists the check names that make it not ok."""
    response, flags = clean_response(raw or "", kind)
    problems: list[str] = []
    parsed: Optional[list[dict]] = None
    if finish_reason == "error":
        problems.append("error")
    if finish_reason == "length":
        problems.append("truncated")
    if not response:
        problems.append("empty")
    elif not looks_english(response):
        problems.append("wrong_language")
    else:
        # A paragraph in another language inside an English answer (the reference has one).
        if any(not looks_english(p) for p in response.split("\n")):
            problems.append("foreign_fragment")
    if kind == "analysis":
        parsed, bad = parse_analysis(response)
        if response and not parsed:
            problems.append("unparsed")
        elif bad:
            problems.append("partial_parse")
        rw = words(review)
        if parsed and any(not target_in_review(t["target"], rw) for t in parsed):
            problems.append("target_not_in_review")
    elif response and re.match(r"\s*Opinion Target\b", response, re.IGNORECASE):
        problems.append("wrong_format")  # an analysis where a rewrite was asked for
    # Every problem is a flag; those listed in `drop` also make the record not ok.
    drops = [p for p in problems if p in drop]
    flags = flags + problems
    if error:
        flags.append("error: " + error[:120])
    return Verdict(response=response, parsed=parsed, flags=flags, drops=drops)
