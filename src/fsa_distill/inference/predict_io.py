"""The files of `fsa-distill predict`: input records from .txt, .jsonl or .csv (or stdin), each
line checked (UTF-8, JSON, the field, the text's length) as it streams, and the output rows as
JSON lines or CSV (inference/commands.py runs the command)."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from fsa_distill import limits
from fsa_distill.errors import FsaError
from fsa_distill.resources import json_object, read_lines

INPUT_FORMATS = {".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
CSV_COLUMNS = ("line", "id", "text", "prediction", "aspects", "status")


@dataclass
class Record:
    line: int           # 1-based line (CSV: the line the record starts on; arguments: position)
    id: object          # the input's id field if present, else the line number
    text: str


# ------------------------------------------------------------------------------------ reading
def _decoded_lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) with the newline removed; a non-UTF-8 or over-long line is an error
    naming it (resources.read_lines: the one bounded line reader)."""
    for n, line in read_lines(stream, name):
        yield n, line.rstrip("\r\n")


def _txt_records(stream, name, args) -> Iterator[Record]:
    for n, line in _decoded_lines(stream, name):
        yield Record(n, n, line)


def _jsonl_records(stream, name, args) -> Iterator[Record]:
    field = args.text_field
    for n, line in _decoded_lines(stream, name):
        if not line.strip():
            yield Record(n, n, "")  # a blank line keeps its row, so line numbers stay aligned
            continue
        obj = json_object(line, f"{name}: line {n}")
        if field not in obj:
            raise FsaError(f"{name}: line {n}: no {field!r} key (keys: {', '.join(obj) or 'none'}); "
                           "choose one with --text-field")
        text = obj[field]
        if text is not None and not isinstance(text, str):
            raise FsaError(f"{name}: line {n}: {field!r} is a {type(text).__name__}, expected a string")
        yield Record(n, obj.get(args.id_field, n), text or "")


def _csv_records(stream, name, args) -> Iterator[Record]:
    column = args.column or args.text_field
    lines = _decoded_lines(stream, name)
    counter = {"n": 0}

    def physical():  # csv needs the newlines back; we count lines to name them in errors
        for n, line in lines:
            counter["n"] = n
            yield line + "\n"

    reader = csv.reader(physical())
    try:
        header = next(reader)
    except StopIteration:
        return
    if column not in header:
        raise FsaError(f"{name}: no column {column!r} (columns: {', '.join(header)}); choose one with --column")
    ti, ii = header.index(column), header.index(args.id_field) if args.id_field in header else None
    while True:
        start = counter["n"] + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise FsaError(f"{name}: line {counter['n']}: bad CSV ({e})") from None
        if not row:  # a blank line: keep its row like the other formats
            yield Record(start, start, "")
            continue
        if len(row) <= ti:
            raise FsaError(f"{name}: line {start}: {len(row)} field(s), no {column!r} value")
        rid = row[ii] if ii is not None and ii < len(row) else start
        yield Record(start, rid, row[ti])


READERS = {"txt": _txt_records, "jsonl": _jsonl_records, "csv": _csv_records}


def _bounded(records: Iterator[Record], name: str) -> Iterator[Record]:
    """A text longer than limits.MAX_TEXT_CHARS is an error naming its line: the model reads at
    most 512 tokens of it anyway, and tokenizing megabytes first costs minutes and gigabytes."""
    limit = limits.MAX_TEXT_CHARS
    for rec in records:
        if len(rec.text) > limit:
            raise FsaError(f"{name}: line {rec.line}: text of {len(rec.text)} characters, more than {limit} "
                           "(raise FSA_DISTILL_MAX_TEXT_CHARS)")
        yield rec


def format_of(path: str, explicit: str | None, table: dict, default: str | None, what: str) -> str:
    if explicit:
        return explicit
    if path == "-":
        return default  # type: ignore[return-value]
    ext = Path(path).suffix.lower()
    if ext not in table:
        raise FsaError(f"{path}: cannot tell the {what} format from {ext or 'no extension'!r}; "
                       f"use {', '.join(sorted(set(table)))} or pass --{what}-format")
    return table[ext]


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise FsaError("<stdin>: stdin is closed; pipe text in or use --input FILE")
        return sys.stdin.buffer
    p = Path(path)
    if not p.is_file():
        raise FsaError(f"{path}: no such file")
    return open(p, "rb")


def read_records(path: str, fmt: str, args) -> Iterator[Record]:
    stream = _open_input(path)
    try:
        name = "<stdin>" if path == "-" else path
        yield from _bounded(READERS[fmt](stream, name, args), name)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


# ------------------------------------------------------------------------------------ writing
def _status(result) -> str:
    if not result.text.strip():
        return "empty"
    return "truncated" if result.truncated else "ok"


class Writer:
    def __init__(self, stream: IO[str], fmt: str):
        self.stream, self.fmt = stream, fmt
        self.csv = csv.writer(stream) if fmt == "csv" else None
        if self.csv:
            self.csv.writerow(CSV_COLUMNS)

    def write(self, rec: Record, result) -> None:
        aspects = [a.to_dict() for a in result.aspects]
        row = {"line": rec.line, "id": rec.id, "text": rec.text, "prediction": result.generated,
               "aspects": aspects, "status": _status(result)}
        if self.csv:
            row["aspects"] = json.dumps(aspects, ensure_ascii=False)
            self.csv.writerow([row[c] for c in CSV_COLUMNS])
        else:
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def close_output(out: IO[str], shown: str, n: int) -> None:
    try:
        out.close()  # flushes the last buffered rows: where a full disk shows
    except OSError as e:
        raise FsaError(f"{shown}: cannot write ({e.strerror}) after {n} row(s)") from None
