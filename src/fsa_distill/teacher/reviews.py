"""Reviews in: read, clean, guard against benchmark leaks, sample.

Formats: JSON lines (.jsonl/.json, optionally .gz), CSV, Parquet, or a folder written by
`datasets.save_to_disk`. Column names are config. Order of the steps, each counted in the stats:
empty text -> duplicate (normalized text) -> too short / too long -> benchmark leak -> sampling.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional

from fsa_distill.errors import FsaError
from fsa_distill import limits
from fsa_distill.limits import clip
from fsa_distill.resources import iter_jsonl, teacher_sample_path, text_lines
from fsa_distill.teacher.text import normalize_text, words


@dataclass(frozen=True)
class Review:
    review_id: str
    text: str
    rating: Optional[float] = None
    domain: Optional[str] = None


# ----------------------------------------------------------------------------------- reading rows

def _detect_format(path: Path) -> str:
    if path.is_dir():
        return "datasets"
    name = path.name.lower().removesuffix(".gz")
    for ext, fmt in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(ext):
            return fmt
    raise FsaError(f"{path}: cannot tell the format from the name; set reviews.format")


def _rows_jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    for lineno, row in iter_jsonl(path):
        yield f"{path}:{lineno}", row


def _rows_csv(path: Path, needed: list[str]) -> Iterator[tuple[str, dict]]:
    # Lines are decoded one by one (a Latin-1 byte is an error naming its line, not a traceback),
    # and strict=True makes a quote left open an error instead of one field swallowing the rest
    # of the file.
    lines = text_lines(path)
    at = {"line": 0}

    def physical():
        for n, line in lines:
            at["line"] = n
            yield line

    reader = csv.DictReader(physical(), strict=True)
    try:
        header = reader.fieldnames or []
        missing = [c for c in needed if c not in header]
        if missing:
            raise FsaError(f"{path}: no column {missing[0]!r} (columns: {clip(', '.join(header))})")
        for row in reader:
            if None in row:  # more fields than the header
                raise FsaError(f"{path}:{at['line']}: more fields than the header's {len(header)}")
            yield f"{path}:{at['line']}", row
    except csv.Error as e:
        raise FsaError(f"{path}:{at['line']}: bad CSV ({e})") from None


def _rows_table(path: Path, rows: list[dict], needed: list[str]) -> Iterator[tuple[str, dict]]:
    if rows:
        missing = [c for c in needed if c not in rows[0]]
        if missing:
            raise FsaError(f"{path}: no column {missing[0]!r} (columns: {', '.join(rows[0])})")
    for i, row in enumerate(rows):
        yield f"{path}: row {i}", row


def _rows_parquet(path: Path, needed: list[str]) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    if path.stat().st_size > limits.MAX_FILE_BYTES:  # read whole: bound it like any file read whole
        raise FsaError(f"{path}: larger than {limits.MAX_FILE_BYTES} bytes "
                       "(raise FSA_DISTILL_MAX_FILE_BYTES, or split the file)")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a broken file
        raise FsaError(f"{path}: cannot read Parquet: {str(e).splitlines()[0]}") from None
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise FsaError(f"{path}: no column {missing[0]!r} (columns: {', '.join(table.column_names)})")
    return _rows_table(path, table.to_pylist(), needed)


def _rows_datasets(path: Path, needed: list[str]) -> Iterator[tuple[str, dict]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise FsaError(f"{path}: not a datasets save_to_disk folder ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise FsaError(f"{path}: a DatasetDict without a 'train' split ({', '.join(ds)})")
        ds = ds["train"]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise FsaError(f"{path}: no column {missing[0]!r} (columns: {', '.join(ds.column_names)})")
    return _rows_table(path, ds.to_list(), needed)


def read_reviews(cfg) -> Iterator[Review]:
    """Yield reviews as written in the file, with their fields checked; no filtering."""
    path = Path(cfg.path) if cfg.path else teacher_sample_path()
    if not path.exists():
        raise FsaError(f"{path}: reviews file not found")
    fmt = cfg.format if cfg.format != "auto" else _detect_format(path)
    needed = [c for c in (cfg.text_field, cfg.rating_field, cfg.domain_field, cfg.id_field) if c]
    if fmt == "jsonl":
        rows = _rows_jsonl(path)
    elif fmt == "csv":
        rows = _rows_csv(path, needed)
    elif fmt == "parquet":
        rows = _rows_parquet(path, needed)
    else:
        rows = _rows_datasets(path, needed)
    for where, row in rows:
        yield _to_review(where, row, cfg)


def _to_review(where: str, row: dict, cfg) -> Review:
    if cfg.text_field not in row:
        raise FsaError(f"{where}: missing field {cfg.text_field!r} (set reviews.text_field)")
    text = row[cfg.text_field]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise FsaError(f"{where}: field {cfg.text_field!r} must be text, got {type(text).__name__}")
    rating = _rating(where, row.get(cfg.rating_field) if cfg.rating_field else None, cfg.rating_field)
    domain = row.get(cfg.domain_field) if cfg.domain_field else None
    if domain is not None and not isinstance(domain, str):
        raise FsaError(f"{where}: field {cfg.domain_field!r} must be text, got {type(domain).__name__}")
    domain = domain or cfg.default_domain
    rid = row.get(cfg.id_field) if cfg.id_field else None
    if rid is None or rid == "":
        # No id column: a stable id from the text, so re-runs agree.
        rid = hashlib.sha1(normalize_text(text).encode()).hexdigest()[:16]
    return Review(review_id=str(rid), text=text, rating=rating, domain=domain)


def _rating(where: str, value: Any, field: Optional[str]) -> Optional[float]:
    if value is None or value == "":
        return None
    try:
        rating = float(value)
    except (TypeError, ValueError):
        raise FsaError(f"{where}: field {field!r} must be a number, got {value!r}") from None
    if math.isnan(rating):
        return None
    return rating


# ------------------------------------------------------------------------------------ leak guard

@lru_cache(maxsize=4)
def _benchmark_index(splits: tuple[str, ...], min_words: int) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Benchmark sentences as word tuples, indexed by their first words for a linear-time scan."""
    from fsa_distill.benchmark.data import TASK_DATASETS, load_split

    k = min(3, min_words)
    index: dict[tuple[str, ...], set] = {}
    for task, datasets_ in TASK_DATASETS.items():
        for ds in datasets_:
            for split in splits:
                for ex in load_split(task, ds, split):
                    toks = tuple(words(ex.sentence))
                    if len(toks) >= min_words:
                        index.setdefault(toks[:k], set()).add(toks)
    return {key: sorted(v) for key, v in index.items()}


class LeakGuard:
    """Finds reviews that contain a benchmark sentence word for word (case and punctuation
    ignored). The reference's hard test reviews share the corpus's ID space and at least one is in
    its validation file (docs/reference.md §2a, §7.12); a corpus of ours must not contain them."""

    def __init__(self, splits=("test", "hard_test"), min_words: int = 8):
        self.k = min(3, min_words)
        self.index = _benchmark_index(tuple(splits), min_words)

    def leaks(self, text: str) -> bool:
        toks = words(text)
        for i in range(len(toks)):
            for cand in self.index.get(tuple(toks[i:i + self.k]), ()):
                if tuple(toks[i:i + len(cand)]) == cand:
                    return True
        return False


# -------------------------------------------------------------------------------------- sampling

def stratified_sample(reviews: list[Review], n: Optional[int], weights: Optional[dict[int, float]],
                      unrated_weight: float, seed: int) -> list[Review]:
    """Weighted sampling without replacement (Efraimidis-Spirakis keys u^(1/w)); the chosen
    reviews keep their input order. Without weights every review weighs 1."""
    def weight(r: Review) -> float:
        if r.rating is None:
            return unrated_weight
        if weights is None:
            return 1.0
        return float(weights.get(int(round(r.rating)), 0.0))

    rng = random.Random(seed)
    keyed = []
    for i, r in enumerate(reviews):
        w = weight(r)
        u = rng.random()
        if w > 0:
            keyed.append((u ** (1.0 / w), i))
    if n is not None and n < len(keyed):
        keyed = sorted(keyed, reverse=True)[:n]
    return [reviews[i] for i in sorted(i for _, i in keyed)]


# ------------------------------------------------------------------------------------ everything

def load_reviews(cfg) -> tuple[list[Review], dict]:
    """Read and filter reviews per `cfg` (a ReviewsConfig). Returns (reviews, stats)."""
    stats: Counter = Counter()
    seen: set[str] = set()
    kept: list[Review] = []
    for r in read_reviews(cfg):
        stats["read"] += 1
        if not r.text.strip():
            stats["empty"] += 1
            continue
        if cfg.dedup:
            norm = normalize_text(r.text)
            if norm in seen:
                stats["duplicate"] += 1
                continue
            seen.add(norm)
        if len(r.text) > limits.MAX_TEXT_CHARS:  # before split(): a 50 MB "review" is not read into words
            stats["too_long"] += 1
            continue
        n_words = len(r.text.split())
        if n_words < cfg.min_words:
            stats["too_short"] += 1
            continue
        if cfg.max_words is not None and n_words > cfg.max_words:
            stats["too_long"] += 1
            continue
        kept.append(r)
    if cfg.leak_guard.enabled:
        guard = LeakGuard(cfg.leak_guard.splits, cfg.leak_guard.min_words)
        clean = [r for r in kept if not guard.leaks(r.text)]
        stats["benchmark_leak"] = len(kept) - len(clean)
        kept = clean
    s = cfg.sample
    if s.n is not None or s.rating_weights is not None:
        sampled = stratified_sample(kept, s.n, s.rating_weights, s.unrated_weight, s.seed)
        stats["not_sampled"] = len(kept) - len(sampled)
        kept = sampled
    stats["kept"] = len(kept)
    ratings = Counter("none" if r.rating is None else str(int(round(r.rating))) for r in kept)
    return kept, {**dict(stats), "ratings": dict(sorted(ratings.items()))}
