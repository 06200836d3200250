"""PyABSA / ABSADatasets files: APC (3 lines per aspect) and ATEPC (BIO, one token per line).

APC: the sentence with the aspect replaced by `$T$`, the aspect, the polarity (-1/0/1 by
default), repeated per aspect; consecutive groups that give the same sentence are one sentence,
and `$T$` gives the aspect's exact offset, so repeated terms keep their own spans. PyABSA's own
released files have sentence lines with two `$T$` (its converter replaced the term also inside
other words: "$T$s"): the one at a word boundary is kept and the others become the term again,
counted with their lines; a group with no single such `$T$` is skipped, counted (`strict`:
both are errors). Tokens of one ATEPC span, or copies of a sentence, that disagree on a span's
polarity keep the first label, counted.

ATEPC: `token TAG [polarity]` lines, a blank line between sentences, TAG O / B-ASP / I-ASP (any
B-x / I-x); the polarity of a span is on its tokens, -999, -100 and -1 marking "no label". A
sentence with k aspects is usually repeated k times, each copy labelling one aspect: consecutive
copies are merged. The text is the tokens joined by single spaces.
"""

from __future__ import annotations

from pathlib import Path

from fsa_distill import limits
from fsa_distill.data_import.records import ImportReport, RawAspect, RawSentence
from fsa_distill.errors import FsaError

PLACEHOLDER = "$T$"
NO_LABEL = ("-999", "-100", "-1", "")
MARKERS_REPAIRED = f"APC sentence lines with several {PLACEHOLDER}: the one at a word boundary kept, others restored"
MARKERS_SKIPPED = f"APC groups with several {PLACEHOLDER}, not exactly one at a word boundary: skipped"
DUPLICATE_GROUPS = "APC groups repeating the previous group's sentence, aspect and polarity: dropped"
SPAN_CONFLICT = "ATEPC spans whose tokens disagree on polarity: the first labelled token's kept"
COPY_CONFLICT = "ATEPC copies of a sentence labelling one span differently: the first copy's kept"


def _lines(path: Path) -> list[str]:
    from fsa_distill.resources import read_text

    lines = read_text(path).splitlines()  # CRLF and LF alike
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _one_marker(masked: str, term: str) -> str | None:
    """A sentence line with several $T$ (PyABSA's converter replaces a term everywhere, also
    inside other words, "$T$s"): the one occurrence whose neighbours are not word characters
    stays, the others become the term again; None when not exactly one qualifies."""
    hits = [k for k in range(len(masked)) if masked.startswith(PLACEHOLDER, k)]

    def word(c: str) -> bool:
        return c.isalnum() or c == "_"

    free = [k for k in hits if not (k and word(masked[k - 1]))
            and not (k + len(PLACEHOLDER) < len(masked) and word(masked[k + len(PLACEHOLDER)]))]
    if len(free) != 1:
        return None
    parts = masked.split(PLACEHOLDER)
    keep = hits.index(free[0])
    return "".join(p + (PLACEHOLDER if i == keep else term) for i, p in enumerate(parts[:-1])) + parts[-1]


def read_apc(path: Path, report: ImportReport, strict: bool = False) -> list[RawSentence]:
    """`strict`: a sentence line with several $T$ is an error instead of repaired or skipped."""
    lines = [ln.strip() for ln in _lines(path)]
    if len(lines) % 3:
        start = len(lines) - len(lines) % 3 + 1
        raise FsaError(f"{path}: {len(lines)} lines, not a multiple of 3 (sentence, aspect, polarity): "
                       f"the group starting at line {start} is incomplete")
    out: list[RawSentence] = []
    for k in range(0, len(lines), 3):
        masked, term, pol = lines[k:k + 3]
        where = f"{path}: line {k + 1}"
        if not term:
            raise FsaError(f"{path}: line {k + 2}: empty aspect term")
        found = masked.count(PLACEHOLDER)
        if found > 1 and not strict:
            repaired = _one_marker(masked, term)
            report.count("repaired" if repaired else "dropped", MARKERS_REPAIRED if repaired else MARKERS_SKIPPED,
                         where)
            if repaired is None:
                continue
            masked, found = repaired, 1
        if found != 1:
            raise FsaError(f"{where}: expected exactly one {PLACEHOLDER} in the sentence line (found {found})"
                           + ("; without --strict such lines are repaired or skipped and counted" if found else ""))
        start = masked.index(PLACEHOLDER)
        text = masked.replace(PLACEHOLDER, term)
        aspect = RawAspect(target=term, polarity=pol, start=start, end=start + len(term))
        if out and out[-1].text == text and aspect in out[-1].aspects:
            report.count("dropped", DUPLICATE_GROUPS, where)
        elif out and out[-1].text == text:
            out[-1].aspects.append(aspect)
        else:
            out.append(RawSentence(id=None, text=text, aspects=[aspect], where=where))
    return out


def _bio_blocks(path: Path):
    """(first line number, [(token, tag, polarity)]) per blank-line-separated block."""
    block, first = [], None
    for n, line in enumerate(_lines(path) + [""], 1):
        if not line.strip():
            if block:
                yield first, block
            block, first = [], None
            continue
        parts = line.split()
        if len(parts) not in (2, 3):
            raise FsaError(f"{path}: line {n}: expected 'token TAG [polarity]' (got {len(parts)} fields)")
        tag = parts[1]
        if tag != "O" and tag[:2] not in ("B-", "I-"):
            raise FsaError(f"{path}: line {n}: tag {tag!r} is not O, B-... or I-...")
        first = first or n
        block.append((parts[0], tag, parts[2] if len(parts) == 3 else "", n))


def _spans(block, path: Path, report: ImportReport) -> list[RawAspect]:
    """Aspects of one block; a span's polarity is the first labelled one among its tokens (tokens
    that disagree are counted)."""
    aspects, pos, cur, labels = [], 0, None, []
    for tok, tag, pol, n in block:
        if tag.startswith("B-") or (tag.startswith("I-") and cur is None):
            cur = [pos, pos + len(tok), tag[2:]]
            labels.append([])
            aspects.append(cur)
        elif tag.startswith("I-"):
            cur[1] = pos + len(tok)
        else:
            cur = None
        if cur is not None and pol not in NO_LABEL:
            if labels[-1] and pol != labels[-1][0] and len(set(labels[-1])) == 1:
                report.count("repaired", SPAN_CONFLICT, f"{path}: line {n}")
            labels[-1].append(pol)
        pos += len(tok) + 1
    return [RawAspect(target=None, polarity=(lab[0] if lab else None), start=a[0], end=a[1])
            for a, lab in zip(aspects, labels)]


def read_atepc(path: Path, report: ImportReport) -> list[RawSentence]:
    out: list[RawSentence] = []
    for first, block in _bio_blocks(path):
        text = " ".join(t for t, _, _, _ in block)
        where = f"{path}: line {first}"
        spans = _spans(block, path, report)
        for a in spans:
            a.target = text[a.start:a.end]
        if out and out[-1].text == text and len(out[-1].aspects) == len(spans):
            for old, new in zip(out[-1].aspects, spans):  # a copy labelling another aspect
                if old.polarity is None:
                    old.polarity = new.polarity
                elif new.polarity is not None and new.polarity != old.polarity:
                    report.count("repaired", COPY_CONFLICT, where)
            continue
        out.append(RawSentence(id=None, text=text, aspects=spans, where=where))
    for s in out:
        for a in s.aspects:
            if a.polarity is None:
                raise FsaError(f"{s.where}: aspect {limits.echo(a.target)} has no polarity in any copy of the sentence")
    return out
