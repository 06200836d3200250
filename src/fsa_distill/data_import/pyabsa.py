"""PyABSA / ABSADatasets files: APC (3 lines per aspect) and ATEPC (BIO, one token per line).

APC: the sentence with the aspect replaced by `$T$`, the aspect, the polarity (-1/0/1 by
default), repeated per aspect; consecutive groups that give the same sentence are one sentence,
and `$T$` gives the aspect's exact offset, so repeated terms keep their own spans.

ATEPC: `token TAG [polarity]` lines, a blank line between sentences, TAG O / B-ASP / I-ASP (any
B-x / I-x); the polarity of a span is on its tokens, -999, -100 and -1 marking "no label". A
sentence with k aspects is usually repeated k times, each copy labelling one aspect: consecutive
copies are merged. The text is the tokens joined by single spaces.
"""

from __future__ import annotations

from pathlib import Path

from fsa_distill import limits
from fsa_distill.data_import.records import RawAspect, RawSentence
from fsa_distill.errors import FsaError

PLACEHOLDER = "$T$"
NO_LABEL = ("-999", "-100", "-1", "")


def _lines(path: Path) -> list[str]:
    from fsa_distill.benchmark.data import read_bounded

    lines = read_bounded(path).splitlines()  # CRLF and LF alike
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_apc(path: Path) -> list[RawSentence]:
    lines = [ln.strip() for ln in _lines(path)]
    if len(lines) % 3:
        start = len(lines) - len(lines) % 3 + 1
        raise FsaError(f"{path}: {len(lines)} lines, not a multiple of 3 (sentence, aspect, polarity): "
                       f"the group starting at line {start} is incomplete")
    out: list[RawSentence] = []
    for k in range(0, len(lines), 3):
        masked, term, pol = lines[k:k + 3]
        where = f"{path}: line {k + 1}"
        if masked.count(PLACEHOLDER) != 1:
            raise FsaError(f"{where}: expected exactly one {PLACEHOLDER} in the sentence line "
                           f"(found {masked.count(PLACEHOLDER)})")
        if not term:
            raise FsaError(f"{path}: line {k + 2}: empty aspect term")
        start = masked.index(PLACEHOLDER)
        text = masked.replace(PLACEHOLDER, term)
        aspect = RawAspect(target=term, polarity=pol, start=start, end=start + len(term))
        if out and out[-1].text == text:
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


def _spans(block) -> list[RawAspect]:
    """Aspects of one block; a span's polarity is the first labelled one among its tokens."""
    aspects, pos, cur, labels = [], 0, None, []
    for tok, tag, pol, _ in block:
        if tag.startswith("B-") or (tag.startswith("I-") and cur is None):
            cur = [pos, pos + len(tok), tag[2:]]
            labels.append([])
            aspects.append(cur)
        elif tag.startswith("I-"):
            cur[1] = pos + len(tok)
        else:
            cur = None
        if cur is not None and pol not in NO_LABEL:
            labels[-1].append(pol)
        pos += len(tok) + 1
    return [RawAspect(target=None, polarity=(lab[0] if lab else None), start=a[0], end=a[1])
            for a, lab in zip(aspects, labels)]


def read_atepc(path: Path) -> list[RawSentence]:
    out: list[RawSentence] = []
    for first, block in _bio_blocks(path):
        text = " ".join(t for t, _, _, _ in block)
        where = f"{path}: line {first}"
        spans = _spans(block)
        for a in spans:
            a.target = text[a.start:a.end]
        if out and out[-1].text == text and len(out[-1].aspects) == len(spans):
            for old, new in zip(out[-1].aspects, spans):  # a copy labelling another aspect
                if old.polarity is None:
                    old.polarity = new.polarity
            continue
        out.append(RawSentence(id=None, text=text, aspects=spans, where=where))
    for s in out:
        for a in s.aspects:
            if a.polarity is None:
                raise FsaError(f"{s.where}: aspect {limits.echo(a.target)} has no polarity in any copy of the sentence")
    return out
