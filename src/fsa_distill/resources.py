"""Paths to the data shipped inside the package (benchmark, teacher sample, zero-shot sets).

Files are stored gzip-compressed; `open_text` reads either a plain or a `.gz` file and strips a
UTF-8 BOM, which several reference files start with.
"""

from __future__ import annotations

import gzip
import io
import json
from importlib import resources as _res
from pathlib import Path
from typing import Iterator

from fsa_distill.errors import FsaError


def resource_dir() -> Path:
    return Path(str(_res.files("fsa_distill") / "resources"))


def benchmark_dir() -> Path:
    return resource_dir() / "benchmark"


def teacher_sample_path() -> Path:
    """500 real reviews with recorded Mixtral-8x7B answers (reference-system.md §4d)."""
    return resource_dir() / "teacher_sample" / "mixtral_500.jsonl.gz"


def sentiment_classification_path(dataset: str, split: str = "test") -> Path:
    return resource_dir() / "sentiment_classification" / dataset / f"{split}.json.gz"


def resolve(path: Path) -> Path:
    """Return `path` or its `.gz` sibling, whichever exists."""
    path = Path(path)
    if path.exists():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gz
    raise FsaError(f"{path}: file not found")


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file (plain or gzip) as UTF-8, dropping a leading BOM."""
    path = resolve(Path(path))
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def read_text(path: Path) -> str:
    try:
        with open_text(path) as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise FsaError(f"{path}: not valid UTF-8 at byte {e.start}") from None


def json_object(line: str, where: str) -> dict:
    """One JSON-lines record; `where` ("FILE: line N") starts the one-line error."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise FsaError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise FsaError(f"{where}: expected a JSON object (got {type(obj).__name__})")
    return obj


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file (plain or .gz).
    Errors name the file and the line: invalid JSON, a line that is not an object, bad UTF-8."""
    path = Path(path)
    lineno = 0
    try:
        with open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield lineno, json_object(line, f"{path}: line {lineno}")
    except UnicodeDecodeError as e:
        raise FsaError(f"{path}: line {lineno + 1}: not valid UTF-8 (byte {e.start} of the file's text stream)") from None
