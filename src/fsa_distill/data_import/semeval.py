"""SemEval XML: 2014 Task 4 (`<sentences>`) and 2015/2016 Task 5 (`<Reviews>`), read and written.

2014: `<sentence id><text/><aspectTerms><aspectTerm term polarity from to/></aspectTerms>
<aspectCategories><aspectCategory category polarity/></aspectCategories></sentence>`; ATSA reads
the terms (`conflict` kept), ACSA the categories. 2015/16: `<Review rid><sentences><sentence id>
<text/><Opinions><Opinion target category polarity from to/></Opinions>`; `target="NULL"` is an
implicit aspect, kept. Text-level (review) opinions of the 2016 subtask 2 are not sentence
annotations: they are counted as dropped.

Parsed with defusedxml (expat underneath): a DTD, an entity declaration (`<!ENTITY`, the
"billion laughs" shape) or an external reference is refused by the parser itself, in any encoding
(a UTF-16 file too); elements nest at most limits.MAX_JSON_DEPTH deep, and the size is bounded by
limits.MAX_FILE_BYTES. The writer adds two attributes other tools ignore where the benchmark has
them: `category` on 2014 aspect terms and `opinion_words` (JSON) on terms and opinions, so that
an export of the benchmark reads back to the same records and views.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from fsa_distill import limits
from fsa_distill.data_import.records import ImportReport, RawAspect, RawSentence
from fsa_distill.errors import FsaError

def read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FsaError(f"{path}: " + ("not a regular file" if path.exists() else "file not found"))
    size = path.stat().st_size
    if size > limits.MAX_FILE_BYTES:
        raise FsaError(f"{path}: {size} bytes, more than limits.MAX_FILE_BYTES={limits.MAX_FILE_BYTES}")
    return path.read_bytes()


class _TooDeep(Exception):
    pass


class _Tree(ET.TreeBuilder):
    """The standard tree, refusing elements nested deeper than limits.MAX_JSON_DEPTH (SemEval
    files are 6 deep; 3,000 would overflow the recursion of Element.iter)."""

    depth = 0

    def start(self, tag, attrs):
        self.depth += 1
        if self.depth > limits.MAX_JSON_DEPTH:
            raise _TooDeep
        return super().start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        return super().end(tag)


def _parser(path: Path, data: bytes, target=None):
    """defusedxml's parser fed `data`: any DTD (`<!DOCTYPE`), entity declaration or external
    reference is refused while parsing, whatever the encoding (UTF-16 too), naming the line."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    parser = DefusedXMLParser(target=target or _Tree(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(data)
        return parser.close()
    except _TooDeep:
        raise FsaError(f"{path}: line {parser.parser.CurrentLineNumber}: XML elements nested deeper than "
                       f"limits.MAX_JSON_DEPTH={limits.MAX_JSON_DEPTH}") from None
    except DefusedXmlException:
        line = parser.parser.CurrentLineNumber
        raise FsaError(f"{path}: line {line}: XML DTDs and entity declarations are not accepted "
                       "(<!DOCTYPE ...>, <!ENTITY ...>)") from None
    except ET.ParseError as e:
        line, col = e.position
        raise FsaError(f"{path}: line {line} column {col}: invalid XML ({str(e).split(':')[0]})") from None


def parse_xml(path: Path) -> ET.Element:
    return _parser(path, read_bytes(path))


class _RootTag:
    """A parser target that stops at the root element's start tag (a cheap, real parse)."""

    def start(self, tag, attrs):
        raise _Found(tag)

    def close(self):
        return None


class _Found(Exception):
    pass


def root_kind(path: Path) -> str | None:
    """'semeval2014' for <sentences>, 'semeval2016' for <Reviews>, else None."""
    try:
        _parser(path, read_bytes(path), target=_RootTag())
        return None
    except _Found as found:
        return {"sentences": "semeval2014", "Reviews": "semeval2016"}.get(found.args[0])


def _int(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise FsaError(f"{where}: offset {limits.echo(value)} is not an integer") from None


def _opinions(el: ET.Element, where: str):
    """Our own `opinion_words` attribute (JSON), written by export; absent in SemEval files."""
    from fsa_distill.resources import parse_json

    raw = el.get("opinion_words")
    return None if raw is None else parse_json(raw, f"{where}: attribute opinion_words")


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
def _check_xml(ex) -> None:
    """Every string written must be a character XML 1.0 carries (data import repairs them; a
    hand-written dataset may still hold a NUL or \\x0b), else the file would not parse back."""
    from fsa_distill.data_import.records import XML_UNSAFE

    texts = [("ID", ex.id), ("sentence", ex.sentence)]
    texts += [(f"aspects[{j}]", f"{a.target} {a.category} {opinion_words_json(a)}") for j, a in enumerate(ex.aspects)]
    for field, text in texts:
        m = XML_UNSAFE.search(str(text))
        if m:
            raise FsaError(f"{ex.source}: ID {limits.clip(ex.id)}: {field}: character U+{ord(m.group()):04X} cannot "
                           "be written to XML (fsa-distill data import --format benchmark replaces it)")


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
        _check_xml(ex)
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
        _check_xml(ex)
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
