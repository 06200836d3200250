"""Paths to the data shipped inside the package (benchmark, teacher sample, zero-shot sets).

Files are stored gzip-compressed; `open_text` reads either a plain or a `.gz` file and strips a
UTF-8 BOM, which several reference files start with. The bounded readers of user files live here
too: `read_bytes`/`read_text` (the one bounded whole-file reader), `read_json`, `read_json_records`
(the one "JSON array or JSON lines" reader), `read_lines`, `iter_jsonl` (sizes from
fsa_distill.limits, nesting checked before parsing, errors naming file and line), with the
output-folder checks and lock every writing command uses.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
import zlib
from importlib import resources as _res
from pathlib import Path
from typing import IO, Iterator

from fsa_distill import limits
from fsa_distill.errors import FsaError

LOCK_FILE = ".lock"


def resource_dir() -> Path:
    return Path(str(_res.files("fsa_distill") / "resources"))


def benchmark_dir() -> Path:
    return resource_dir() / "benchmark"


def teacher_sample_path() -> Path:
    """500 real reviews with recorded Mixtral-8x7B answers (docs/reference.md §4d)."""
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


def _check_readable(path: Path) -> Path:
    """`path` must be a regular file: a folder or a device (/dev/zero, a FIFO) would be read
    forever or fail deep inside a parser."""
    if path.is_dir():
        raise FsaError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise FsaError(f"{path}: not a regular file")
    return path


def _gz_error(e: BaseException) -> str:
    if isinstance(e, EOFError):
        return "the gzip file is truncated"
    return " ".join(str(e).split())[:200] or type(e).__name__


def open_binary(path: Path) -> IO[bytes]:
    """Open a regular file (plain or gzip) for reading bytes."""
    path = _check_readable(resolve(Path(path)))
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file (plain or gzip) as UTF-8, dropping a leading BOM."""
    path = _check_readable(resolve(Path(path)))
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def read_bytes(path: Path, limit: int | None = None, limit_name: str = "MAX_FILE_BYTES") -> bytes:
    """The one bounded whole-file reader: a regular file (plain or gzip), at most `limit` bytes
    (default limits.MAX_FILE_BYTES; `limit_name` names the limit in the error), counted after
    decompression; a plain file's size is checked before anything is read."""
    limit = getattr(limits, limit_name) if limit is None else limit
    path = Path(path)

    def too_big(size: str) -> FsaError:
        return FsaError(f"{path}: larger than {limit} bytes ({size}more than limits.{limit_name}={limit}; "
                        f"raise FSA_DISTILL_{limit_name} to read it)")

    try:
        resolved = _check_readable(resolve(path))
        if resolved.suffix != ".gz" and resolved.stat().st_size > limit:
            raise too_big(f"{resolved.stat().st_size} bytes, ")
        with open_binary(resolved) as f:
            data = f.read(limit + 1)
    except (EOFError, OSError, zlib.error) as e:
        raise FsaError(f"{path}: could not read ({_gz_error(e)})") from None
    if len(data) > limit:
        raise too_big("decompressed, ")
    return data


def decode_utf8(data: bytes, path, hint: str = "") -> str:
    """UTF-8 text of a whole file's bytes (a BOM dropped); bad bytes are one line naming the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise FsaError(f"{path}: line {line}: not valid UTF-8 (byte 0x{data[e.start]:02x}){hint}") from None


def read_text(path: Path) -> str:
    """A whole text file (plain or gzip), bounded (`read_bytes`), decoded as UTF-8."""
    return decode_utf8(read_bytes(path), path)


def read_lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(line number, text with its newline) for each line of a byte stream, decoded as UTF-8 line
    by line, so an error names the exact line; a line longer than limits.MAX_LINE_BYTES is an
    error instead of a read without end (a device, a file with no newline)."""
    limit = limits.MAX_LINE_BYTES
    n = 0
    try:
        while True:
            raw = stream.readline(limit + 1)
            if not raw:
                return
            n += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                raise FsaError(f"{name}: line {n}: longer than {limit} bytes "
                               "(raise FSA_DISTILL_MAX_LINE_BYTES to read it)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise FsaError(f"{name}: line {n}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                               f"{e.start + 1}); convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8") from None
            yield n, (line.lstrip("\ufeff") if n == 1 else line)  # Windows editors start files with a BOM
    except (EOFError, OSError, zlib.error) as e:  # a truncated or corrupt .gz, an unreadable file
        raise FsaError(f"{name}: line {n + 1}: could not read ({_gz_error(e)})") from None


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """`read_lines` of a file (plain or gzip)."""
    with open_binary(path) as f:
        yield from read_lines(f, str(path))


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: twice as fast as (?:[^"\\]|\\.)*
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def check_json_depth(text: str, path) -> None:
    """Refuse nesting deeper than limits.MAX_JSON_DEPTH before json.loads (which would recurse
    into it): a cheap scan of the brackets outside strings."""
    depth = deepest = 0
    for ch in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if ch in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limits.MAX_JSON_DEPTH:
                raise FsaError(f"{path}: JSON nested deeper than limits.MAX_JSON_DEPTH={limits.MAX_JSON_DEPTH}")


def _loads(text: str, where: str, at):
    """json.loads, every failure one FsaError starting with `where` (`at(e)` says where the syntax
    error is); a plain ValueError, not JSONDecodeError, is an integer of more than 4,300 digits."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FsaError(f"{where}: invalid JSON {at(e)}") from None
    except RecursionError:
        raise FsaError(f"{where}: JSON nested too deep") from None
    except ValueError as e:
        if "digits" in str(e):
            raise FsaError(f"{where}: a JSON number with more than {sys.get_int_max_str_digits()} digits") from None
        raise FsaError(f"{where}: invalid JSON ({limits.clip(str(e))})") from None


def parse_json(text: str, where: str):
    """json.loads of user text (a whole file, a CSV cell, an XML attribute), every failure one
    FsaError starting with `where`: bad syntax (line and column), nesting deeper than
    limits.MAX_JSON_DEPTH (checked before parsing), an integer Python refuses to convert."""
    check_json_depth(text, where)
    return _loads(text, where, lambda e: f"at line {e.lineno} column {e.colno}: {e.msg}")


def json_object(line: str, where: str) -> dict:
    """One JSON-lines record; `where` ("FILE: line N") starts the one-line error."""
    obj = _loads(line, where, lambda e: f"({e.msg} at column {e.colno})")
    if not isinstance(obj, dict):
        raise FsaError(f"{where}: expected a JSON object (got {type(obj).__name__})")
    return obj


def read_json(path: Path):
    """A whole JSON file (plain or .gz), bounded in size (`read_text`) and nesting before it is
    parsed (`parse_json`)."""
    return parse_json(read_text(path), str(path))


def read_json_records(path: Path) -> list[tuple[str, object]]:
    """The one reader of "a JSON array or JSON lines" (plain or .gz): [(where, record)], `where`
    being "FILE: record N" (an array) or "FILE: line N" (JSON lines), for the caller's errors.
    Bounded in size and nesting; syntax errors name the line. Records are not checked here."""
    text = read_text(path)
    if text.lstrip().startswith("["):
        data = parse_json(text, str(path))
        return [(f"{path}: record {i}", r) for i, r in enumerate(data)]
    check_json_depth(text, path)
    return [(f"{path}: line {n}", json_object(line, f"{path}: line {n}"))
            for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file (plain or .gz).
    Errors name the file and the line: invalid JSON, a line that is not an object, bad UTF-8,
    a line over limits.MAX_LINE_BYTES, a truncated .gz."""
    path = Path(path)
    for lineno, line in text_lines(path):
        if line.strip():
            yield lineno, json_object(line, f"{path}: line {lineno}")


# -------------------------------------------------------------------------------- output folders
def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """`path` may be created as a folder: neither it nor a parent is a regular file. Called before
    any expensive step, so a typo'd output path fails at once, not after training."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise FsaError(f"{p}: is a file, not a folder (the {what} {path})")
            break
    return path


class FolderLock:
    """An exclusive lock on an output folder (flock on `<folder>/.lock`, which holds the pid of its
    holder): two runs writing the same folder would write every record twice. The kernel drops
    the lock when the process dies, so a crashed run never leaves a stale lock behind."""

    def __init__(self, folder: str | Path, command: str):
        self.path = Path(folder) / LOCK_FILE
        self.command = command
        self._f = None

    def __enter__(self) -> "FolderLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read(40).strip() or "unknown"
            f.close()
            raise FsaError(f"{self.path.parent}: in use by another {self.command} (pid {holder}); wait for it "
                           "to finish or choose another output folder") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc) -> None:
        if self._f is not None:
            self._f.close()  # closing releases the flock
            self._f = None
