"""Teacher corpus records: reading ours and the reference's formats, mixing, holding out reviews.

Shared by pretraining (student/pretrain_data.py builds its pairs from them), zero-shot's teacher
agreement and the silver labels, so the held-out reviews are the same everywhere.

Read teacher corpora into (review -> response) pairs for distillation pretraining.

Two record formats are accepted, line by line, in JSONL files (optionally .gz):

* ours, written by `fsa-distill generate`: `text`, `response`, `kind` ("analysis" | "rewrite"),
  `domain`, `teacher`, `ok` (records with ok == false are skipped: the teacher stage flags, rather
  than deletes, answers that failed its checks);
* the reference's (docs/reference.md §4b): `Text` plus one of `mixtral_response`,
  `llama2_response`, `chatgpt_response`. The kind is not stored, so it is inferred: analyses always
  start with "Opinion Target". The domain comes from the path when it names one (the reference
  corpus lives under `.../restaurant/...` and `.../computer/...`).

A pair is built as in the reference (docs/reference.md §4c): source = review with '\n' -> [NL], no prefix, at most
128 tokens; target = response with '\n' -> [NL], at most 400 tokens, ending in EOS. Analyses and
rewrites are pooled. Beyond the reference: an optional task prefix per kind (an ablation switch)
and mixing weights per kind and per domain (0 drops a kind or domain; 2.5 repeats every record
twice and a random half of them a third time).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fsa_distill.errors import FsaError
from fsa_distill.limits import echo
from fsa_distill.resources import json_object, text_lines

KINDS = ("analysis", "rewrite")
REFERENCE_RESPONSE_FIELDS = {"mixtral_response": "mixtral", "llama2_response": "llama2",
                             "chatgpt_response": "chatgpt"}
CORPUS_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
UNKNOWN_DOMAIN = "unknown"
# Path words that name a domain in the reference corpus layout (§4a).
PATH_DOMAINS = {"restaurant": "restaurant", "restaurants": "restaurant", "computer": "computer",
                "laptop": "computer", "electronics": "computer"}


@dataclass(frozen=True)
class CorpusRecord:
    text: str
    response: str
    kind: str
    domain: str
    teacher: str | None
    source: str  # "file:line", for messages


def infer_kind(response: str) -> str:
    return "analysis" if response.lstrip().startswith("Opinion Target") else "rewrite"


def corpus_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, sorted so the order is reproducible)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(CORPUS_SUFFIXES))
            if not found:
                raise FsaError(f"{p}: no corpus files (*.jsonl, *.json, optionally .gz) in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FsaError(f"{p}: corpus file or folder not found")
    return out


def _domain_from_path(path: Path) -> str:
    for part in reversed(path.parts[:-1]):
        if part.lower() in PATH_DOMAINS:
            return PATH_DOMAINS[part.lower()]
    stem = path.name.lower()
    for word, domain in PATH_DOMAINS.items():
        if stem.startswith(word + "_"):
            return domain
    return UNKNOWN_DOMAIN


def _field(obj: dict, key: str, where: str, types: tuple, what: str, required: bool = False):
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        got = "missing" if key not in obj else f"got {type(value).__name__} {echo(value)}"
        raise FsaError(f"{where}: field {key!r} must be {what} ({got})")
    return value


def _parse_record(obj, where: str, path_domain: str) -> CorpusRecord | None:
    if not isinstance(obj, dict):
        raise FsaError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "text" in obj or "response" in obj:  # ours
        # "ok": "no" is truthy: a string there would silently keep a record its writer dropped.
        if _field(obj, "ok", where, (bool,), "true or false") is False:
            return None
        text = _field(obj, "text", where, (str,), "a string", required=True)
        response = _field(obj, "response", where, (str,), "a string", required=True)
        kind = _field(obj, "kind", where, (str,), "a string") or infer_kind(response)
        if kind not in KINDS:
            raise FsaError(f"{where}: field 'kind': kind {echo(kind)} is not one of {', '.join(KINDS)}")
        domain = _field(obj, "domain", where, (str,), "a string")
        teacher = _field(obj, "teacher", where, (str,), "a string")
        return CorpusRecord(text, response, kind, domain or path_domain, teacher, where)
    if "Text" in obj:  # the reference's
        field = next((f for f in REFERENCE_RESPONSE_FIELDS if f in obj), None)
        if field is None:
            raise FsaError(f"{where}: no response field (expected one of {', '.join(REFERENCE_RESPONSE_FIELDS)})")
        text = _field(obj, "Text", where, (str,), "a string", required=True)
        response = _field(obj, field, where, (str,), "a string", required=True)
        return CorpusRecord(text, response, infer_kind(response), path_domain,
                            REFERENCE_RESPONSE_FIELDS[field], where)
    raise FsaError(f"{where}: not a corpus record (expected 'text'/'response' or 'Text'/'mixtral_response')")


def iter_records(paths: Sequence[str | Path]) -> Iterator[CorpusRecord]:
    """Every usable record of every file, in file order. Bad lines are errors naming file:line
    (and the field): invalid JSON, bad UTF-8, a field of the wrong type, a truncated .gz."""
    for path in corpus_files(paths):
        domain = _domain_from_path(path)
        for lineno, line in text_lines(path):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            rec = _parse_record(json_object(line, where), where, domain)
            if rec is not None:
                yield rec


def read_records(paths: Sequence[str | Path]) -> list[CorpusRecord]:
    records = list(iter_records(paths))
    if not records:
        raise FsaError(f"{', '.join(map(str, paths))}: no usable corpus records")
    return records


def mix(records: Sequence[CorpusRecord], kind_weights: dict[str, float] | None = None,
        domain_weights: dict[str, float] | None = None, seed: int = 0) -> list[CorpusRecord]:
    """Apply mixing weights (kind weight x domain weight, 1 where unnamed), deterministically in `seed`.

    The integer part of a weight repeats a record; the fractional part keeps one more copy with that
    probability. All weights 1 (the reference) returns the records unchanged.
    """
    kind_weights = kind_weights or {}
    domain_weights = domain_weights or {}
    rng = random.Random(seed)
    out: list[CorpusRecord] = []
    for rec in records:
        w = kind_weights.get(rec.kind, 1.0) * domain_weights.get(rec.domain, 1.0)
        copies = int(w)
        if rng.random() < w - copies:
            copies += 1
        out.extend([rec] * copies)
    return out


def nested_sample(records: Sequence[CorpusRecord], n: int, seed: int) -> list[CorpusRecord]:
    """The first `n` records of one seeded shuffle: for one seed, smaller samples are subsets of
    larger ones (a corpus-size curve then adds text rather than swapping it)."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    return [records[i] for i in sorted(order[:n])]


def normalize_review(text: str) -> str:
    return " ".join(text.split()).lower()


def review_key(text: str) -> str:
    return hashlib.sha1(normalize_review(text).encode("utf-8")).hexdigest()


def split_holdout(records: Sequence[CorpusRecord], n_reviews: int, seed: int) -> tuple[list, list]:
    """Hold out `n_reviews` distinct reviews (every record of them) for validation, so the same
    review never sits on both sides (one review can have an analysis and a rewrite)."""
    keys = sorted({review_key(r.text) for r in records})
    if n_reviews >= len(keys):
        raise FsaError(f"validation holdout of {n_reviews} reviews leaves nothing to train on "
                       f"({len(keys)} distinct reviews)")
    held = set(random.Random(seed).sample(keys, n_reviews))
    train = [r for r in records if review_key(r.text) not in held]
    val = [r for r in records if review_key(r.text) in held]
    return train, val


def drop_reviews(records: Sequence[CorpusRecord], reviews: Iterable[str]) -> tuple[list[CorpusRecord], int]:
    """Remove records whose review is in `reviews` (the validation set must not be trained on)."""
    banned = {review_key(t) for t in reviews}
    kept = [r for r in records if review_key(r.text) not in banned]
    return kept, len(records) - len(kept)


def teacher_ids(records: Iterable[CorpusRecord]) -> list[str]:
    return sorted({r.teacher for r in records if r.teacher})


def describe(records: Sequence[CorpusRecord]) -> dict:
    return {"records": len(records),
            "kinds": dict(Counter(r.kind for r in records)),
            "domains": dict(Counter(r.domain for r in records))}
