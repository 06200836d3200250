"""Tables: CSV/TSV, JSON lines (or a JSON array of rows), Parquet, and rows of a Hugging Face dataset.

Two layouts, chosen by the columns present (or `--rows`):
- one row per aspect: text, aspect (term; empty or NULL for implicit), polarity, optional
  from/to, category, sentence id, ordinal (SetFit ABSA: which occurrence of the term). Rows with
  the same id, or consecutive rows with the same text when there is no id column, form one
  sentence; a row with neither aspect, category nor polarity is a sentence without aspects.
- one row per sentence: text and a list of aspects (a JSON string in CSV), each an object with
  term/aspect/target, polarity/label/sentiment, optional from/to and category, or a
  [term, polarity] pair (InstructABSA's `aspectTerms` has {"term", "polarity"}).
Column names are found among the usual ones or given with --text-column etc.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fsa_distill import limits
from fsa_distill.data_import.records import ImportReport, RawAspect, RawSentence
from fsa_distill.errors import FsaError

CANDIDATES = {
    "text": ("text", "sentence", "raw_text", "review", "content"),
    "aspect": ("aspect", "term", "target", "aspect_term", "span"),
    "polarity": ("polarity", "label", "sentiment"),
    "from": ("from", "start"),
    "to": ("to", "end"),
    "category": ("category", "aspect_category"),
    "id": ("id", "ID", "sentence_id", "sid"),
    "ordinal": ("ordinal",),
    "aspects": ("aspects", "aspectTerms", "aspect_terms", "opinions"),
    "opinion_words": ("opinion_words",),
}
_KEYS = {"aspect": ("term", "aspect", "target", "span"), "polarity": ("polarity", "label", "sentiment"),
         "from": ("from", "start"), "to": ("to", "end"), "category": ("category", "aspect_category")}


def pick_columns(names: list[str], given: dict[str, str | None], where: str) -> dict[str, str | None]:
    """{role: column or None}; a given name must exist, the text column must be found."""
    out: dict[str, str | None] = {}
    for role, cands in CANDIDATES.items():
        name = given.get(role)
        if name is not None:
            if name not in names:
                raise FsaError(f"{where}: no column {limits.echo(name)} (columns: {limits.echo(names)})")
            out[role] = name
        else:
            out[role] = next((c for c in cands if c in names), None)
    if given.get("aspects") and not given.get("aspect"):
        out["aspect"] = None  # asked for one row per sentence
    if out["text"] is None:
        raise FsaError(f"{where}: no text column (tried {', '.join(CANDIDATES['text'])}; columns: "
                       f"{limits.echo(names)}); name it with --text-column")
    if out["aspect"] is None and out["aspects"] is None and out["category"] is None:
        raise FsaError(f"{where}: no aspect column (tried {', '.join(CANDIDATES['aspect'] + CANDIDATES['aspects'])}); "
                       "name it with --aspect-column (one row per aspect) or --aspects-column (a list per sentence)")
    return out


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def _int_or_none(v: Any, where: str) -> int | None:
    if _blank(v):
        return None
    try:
        return int(float(v)) if not isinstance(v, int) else v
    except (TypeError, ValueError, OverflowError):  # "abc"; "inf", "1e400" and 400 digits overflow int()
        raise FsaError(f"{where}: offset {limits.echo(v)} is not an integer") from None


def aspect_from(obj: Any, where: str) -> RawAspect:
    if isinstance(obj, (list, tuple)) and len(obj) == 2:
        return RawAspect(target=obj[0], polarity=obj[1])
    if not isinstance(obj, dict):
        raise FsaError(f"{where}: an aspect must be an object or a [term, polarity] pair (got {limits.echo(obj)})")
    get = {role: next((obj[k] for k in keys if k in obj), None) for role, keys in _KEYS.items()}
    target = get["aspect"]
    return RawAspect(target=None if _blank(target) else str(target), polarity=get["polarity"],
                     category=get["category"], start=_int_or_none(get["from"], where),
                     end=_int_or_none(get["to"], where), opinion_words=obj.get("opinion_words"))


def _opinion_words(value: Any, where: str) -> Any:
    """The benchmark's opinion words (JSON in a CSV cell, as `data export` writes them)."""
    if not isinstance(value, str):
        return None if _blank(value) else value
    from fsa_distill.resources import parse_json

    return parse_json(value, f"{where}: the opinion_words cell") if value.strip() else None


def _aspect_list(value: Any, where: str) -> list:
    if _blank(value):
        return []
    if isinstance(value, str):
        from fsa_distill.resources import parse_json

        value = parse_json(value, f"{where}: the aspects cell")
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        value = value.tolist()
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        # a Hugging Face Sequence of dicts arrives as a dict of lists: {"term": [...], "polarity": [...]}
        value = [dict(zip(value, row)) for row in zip(*value.values())]
    if not isinstance(value, list):
        raise FsaError(f"{where}: the aspects cell must be a list (got {type(value).__name__})")
    return value


DUPLICATE_ROWS = "exact duplicate rows (the same aspect of the same sentence twice), dropped"


def rows_to_sentences(rows: Iterable[tuple[str, dict]], cols: dict[str, str | None],
                      report: ImportReport) -> list[RawSentence]:
    """(where, row) pairs -> sentences, in either layout (see the module docstring). A row that
    repeats an earlier row of its sentence cell for cell is dropped and counted in `report`."""
    out: list[RawSentence] = []
    by_id: dict[str, RawSentence] = {}
    seen: set[tuple[int, str]] = set()
    for where, row in rows:
        text = row.get(cols["text"])
        if not isinstance(text, str):
            raise FsaError(f"{where}: column {cols['text']!r} is empty or not text")
        rid = None if cols["id"] is None or _blank(row.get(cols["id"])) else str(row.get(cols["id"]))
        if cols["aspects"] is not None and cols["aspect"] is None:
            aspects = [aspect_from(a, where) for a in _aspect_list(row.get(cols["aspects"]), where)]
            out.append(RawSentence(id=rid, text=text, aspects=aspects, where=where))
            continue
        sent = by_id.get(rid) if rid is not None else (out[-1] if out and out[-1].id is None
                                                        and out[-1].text == text else None)
        if sent is None or sent.text != text:
            sent = RawSentence(id=rid, text=text, aspects=[], where=where)
            out.append(sent)
            if rid is not None:
                by_id.setdefault(rid, sent)
        cells = {r: row.get(c) if c else None for r, c in cols.items()}
        if all(_blank(cells[r]) for r in ("aspect", "category", "polarity")):
            continue  # a sentence without aspects
        key = (id(sent), repr(sorted(cells.items())))
        if key in seen:
            report.count("dropped", DUPLICATE_ROWS, where)
            continue
        seen.add(key)
        sent.aspects.append(RawAspect(
            target=None if _blank(cells["aspect"]) else str(cells["aspect"]), polarity=cells["polarity"],
            category=None if _blank(cells["category"]) else str(cells["category"]),
            start=_int_or_none(cells["from"], where), end=_int_or_none(cells["to"], where),
            occurrence=_int_or_none(cells["ordinal"], where),
            opinion_words=_opinion_words(cells["opinion_words"], where)))
    return out


# ------------------------------------------------------------------ file readers
def read_csv(path: Path, given: dict, report: ImportReport) -> list[RawSentence]:
    from fsa_distill.resources import read_text

    text = read_text(path)
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    # strict: a quote opened and never closed is an error, not a field holding the rest of the file
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    start, rows = 1, []
    try:
        names = list(reader.fieldnames or [])
        cols = pick_columns(names, given, f"{path}: line 1")
        for row in iter(lambda: next(reader, None), None):
            rows.append((f"{path}: line {reader.line_num}", row))
            start = reader.line_num + 1
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise FsaError(f"{path}: line {start}: a quoted field starting on this line is never closed "
                           "(unterminated quote)") from None
        raise FsaError(f"{path}: line {reader.line_num}: invalid CSV ({e})") from None
    for where, row in rows:
        if None in row:
            raise FsaError(f"{where}: more fields than the header has")
    return rows_to_sentences(rows, cols, report)


def read_jsonl(path: Path, given: dict, report: ImportReport) -> list[RawSentence]:
    from fsa_distill.resources import read_json_records

    rows = read_json_records(path)  # a JSON array of rows or JSON lines
    for where, r in rows:
        if not isinstance(r, dict):
            raise FsaError(f"{where}: expected an object (got {type(r).__name__})")
    if not rows:
        raise FsaError(f"{path}: no rows")
    cols = pick_columns(list(rows[0][1]), given, rows[0][0])
    return rows_to_sentences(rows, cols, report)


def read_parquet(path: Path, given: dict, report: ImportReport) -> list[RawSentence]:
    """Read in batches, each counted (decoded.py) before it becomes Python rows."""
    from fsa_distill.data_import.decoded import parquet_rows

    names, rows = parquet_rows(path)
    cols = pick_columns(names, given, f"{path}: schema")
    return rows_to_sentences(rows, cols, report)
