"""SemEval XML: 2014 Task 4 (`<sentences>`) and 2015/2016 Task 5 (`<Reviews>`), read and written.

2014: `<sentence id><text/><aspectTerms><aspectTerm term polarity from to/></aspectTerms>
<aspectCategories><aspectCategory category polarity/></aspectCategories></sentence>`; ATSA reads
the terms (`conflict` kept), ACSA the categories. 2015/16: `<Review rid><sentences><sentence id>
<text/><Opinions><Opinion target category polarity from to/></Opinions>`; `target="NULL"` is an
implicit aspect, kept. Text-level (review) opinions of the 2016 subtask 2 are not sentence
annotations: they are counted as dropped.

Parsed with the standard library's expat, which rejects external entities; files declaring
entities of their own (`<!ENTITY`, the "billion laughs" shape) are refused outright, and the size
is bounded by limits.MAX_FILE_BYTES. The writer adds two attributes other tools ignore where the
benchmark has them: `category` on 2014 aspect terms and `opinion_words` (JSON) on terms and
opinions, so that an export of the benchmark reads back to the same records and views.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from fsa_distill import limits
from fsa_distill.data_import.records import ImportReport, RawAspect, RawSentence
from fsa_distill.errors import FsaError

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


def read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FsaError(f"{path}: file not found")
    size = path.stat().st_size
    if size > limits.MAX_FILE_BYTES:
        raise FsaError(f"{path}: {size} bytes, more than limits.MAX_FILE_BYTES={limits.MAX_FILE_BYTES}")
    return path.read_bytes()


def refuse_entities(path: Path, data: bytes) -> None:
    """Entity declarations are how XML bombs expand; SemEval files never declare any."""
    m = _ENTITY_DECL.search(data)
    if m:
        line = data.count(b"\n", 0, m.start()) + 1
        raise FsaError(f"{path}: line {line}: XML entity declarations are not accepted (<!ENTITY ...>)")


def parse_xml(path: Path) -> ET.Element:
    data = read_bytes(path)
    refuse_entities(path, data)
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        line, col = e.position
        raise FsaError(f"{path}: line {line} column {col}: invalid XML ({str(e).split(':')[0]})") from None


def root_kind(path: Path) -> str | None:
    """'semeval2014' for <sentences>, 'semeval2016' for <Reviews>, else None (a cheap sniff)."""
    data = read_bytes(path)
    refuse_entities(path, data)
    head = data[:4096].decode("utf-8", "ignore")
    m = re.search(r"<\s*([A-Za-z]+)[\s>]", re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", head, flags=re.DOTALL))
    return {"sentences": "semeval2014", "Reviews": "semeval2016"}.get(m.group(1)) if m else None


def _int(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise FsaError(f"{where}: offset {limits.echo(value)} is not an integer") from None


def _opinions(el: ET.Element, where: str):
    """Our own `opinion_words` attribute (JSON), written by export; absent in SemEval files."""
    raw = el.get("opinion_words")
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise FsaError(f"{where}: attribute opinion_words is not valid JSON") from None


def _where(path: Path, el: ET.Element, n: int) -> str:
    return f"{path}: <sentence> {n}"


def _sentences(path: Path, root_tag: str, expected: str, other: str, aspects_of) -> tuple[ET.Element, list]:
    """The XML root (checked to be `root_tag`) and a RawSentence per <sentence>, its aspects read
    by `aspects_of(sentence element, where)`."""
    root = parse_xml(path)
    if root.tag != root_tag:
        raise FsaError(f"{path}: root element <{root.tag}>, expected <{root_tag}> ({expected}); {other}")
    out = []
    for n, sent in enumerate(root.iter("sentence")):
        where = _where(path, sent, n)
        text = sent.findtext("text")
        if text is None:
            raise FsaError(f"{where}: no <text>")
        out.append(RawSentence(id=sent.get("id"), text=text, aspects=aspects_of(sent, where), where=where))
    return root, out


def read_semeval2014(path: Path, task: str, report: ImportReport) -> list[RawSentence]:
    def aspects_of(sent: ET.Element, where: str) -> list[RawAspect]:
        if task == "atsa":
            aspects = [RawAspect(target=t.get("term"), polarity=t.get("polarity"), category=t.get("category"),
                                 start=_int(t.get("from"), where), end=_int(t.get("to"), where),
                                 opinion_words=_opinions(t, where)) for t in sent.iter("aspectTerm")]
            n_other = len(sent.findall("aspectCategories/aspectCategory"))
            other = "aspectCategories not read (task atsa reads aspectTerms; --task acsa reads them)"
        else:
            aspects = [RawAspect(target=None, polarity=c.get("polarity"), category=c.get("category"),
                                 opinion_words=_opinions(c, where)) for c in sent.iter("aspectCategory")]
            n_other = len(sent.findall("aspectTerms/aspectTerm"))
            other = "aspectTerms not read (task acsa reads aspectCategories; --task atsa reads them)"
        if n_other:
            report.dropped[other] += n_other
        return aspects

    return _sentences(path, "sentences", "SemEval-2014", "for <Reviews> use --format semeval2016", aspects_of)[1]


def read_semeval2016(path: Path, task: str, report: ImportReport) -> list[RawSentence]:
    def aspects_of(sent: ET.Element, where: str) -> list[RawAspect]:
        return [RawAspect(target=o.get("target"), polarity=o.get("polarity"), category=o.get("category"),
                          start=_int(o.get("from"), where), end=_int(o.get("to"), where),
                          opinion_words=_opinions(o, where)) for o in sent.iter("Opinion")]

    root, out = _sentences(path, "Reviews", "SemEval-2015/2016", "for <sentences> use --format semeval2014",
                           aspects_of)
    for review in root.iter("Review"):
        direct = review.find("Opinions")  # review-level (text-level) opinions, not per sentence
        if direct is not None and len(direct):
            report.dropped["review-level Opinions (text-level subtask, no sentence to attach to)"] += len(direct)
    return out


# ------------------------------------------------------------------ writers (data export)
def opinion_words_json(a) -> str:
    """An aspect's opinion words as the JSON the benchmark files hold ("" when it has none)."""
    ow = a.opinion_words
    if ow is None:
        return ""
    if isinstance(ow, tuple):
        ow = [{"from": f, "to": t, "opinion": o} for f, t, o in ow]
    return json.dumps(ow, ensure_ascii=False)


def _set_common(el: ET.Element, a) -> None:
    if a.opinion_words is not None:
        el.set("opinion_words", opinion_words_json(a))


def write_semeval2014(examples, task: str, path: Path) -> None:
    root = ET.Element("sentences")
    for ex in examples:
        s = ET.SubElement(root, "sentence", id=ex.id)
        ET.SubElement(s, "text").text = ex.sentence
        if not ex.aspects:
            continue
        if task == "atsa":
            terms = ET.SubElement(s, "aspectTerms")
            for a in ex.aspects:
                implicit = a.is_implicit
                t = ET.SubElement(terms, "aspectTerm", term="NULL" if implicit else a.target, polarity=a.polarity,
                                  **{"from": "0" if implicit else str(a.start), "to": "0" if implicit else str(a.end)})
                if a.category:
                    t.set("category", a.category)
                _set_common(t, a)
        else:
            cats = ET.SubElement(s, "aspectCategories")
            for a in ex.aspects:
                c = ET.SubElement(cats, "aspectCategory", category=a.category, polarity=a.polarity)
                _set_common(c, a)
    _write_tree(root, path)


def write_semeval2016(examples, task: str, path: Path) -> None:
    root = ET.Element("Reviews")
    review, rid = None, None
    for ex in examples:
        this_rid = ex.id.split(":")[0] if ":" in ex.id else ex.id  # SemEval-2016 ids are "<rid>:<n>"
        if review is None or this_rid != rid:
            review, rid = ET.SubElement(root, "Review", rid=this_rid), this_rid
            sentences = ET.SubElement(review, "sentences")
        s = ET.SubElement(sentences, "sentence", id=ex.id)
        ET.SubElement(s, "text").text = ex.sentence
        if not ex.aspects:
            continue
        ops = ET.SubElement(s, "Opinions")
        for a in ex.aspects:
            implicit = a.is_implicit
            o = ET.SubElement(ops, "Opinion", target="NULL" if implicit else a.target, category=a.category or "",
                              polarity=a.polarity,
                              **{"from": "0" if implicit else str(a.start), "to": "0" if implicit else str(a.end)})
            _set_common(o, a)
    _write_tree(root, path)


def _write_tree(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
