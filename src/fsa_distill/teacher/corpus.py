"""The corpus file: append-only JSON lines, durable record by record, resumable by key.

Crash safety rests on three rules:
1. a record is written as one line and fsync'ed before it is counted as done;
2. on open, anything after the last newline is a record torn by a crash: it is cut off (it was
   never counted, so it is generated again, not duplicated), unless it is a whole record that
   only lacks its newline, which is kept; a file whose first line is not ours is never touched;
3. the resume key of a record is computed from what determines its content (kind, prompt
   version, teacher, normalized review text), so a re-run skips exactly the finished work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

from fsa_distill import limits
from fsa_distill.errors import FsaError
from fsa_distill.resources import text_lines
from fsa_distill.teacher.text import normalize_text

log = logging.getLogger(__name__)

# Field order of a record; `key` first so a reader can pick it off the start of a line.
FIELDS = ("key", "review_id", "text", "rating", "domain", "kind", "prompt_version", "teacher", "response",
          "raw_response", "finish_reason", "prompt_tokens", "completion_tokens", "parsed", "flags", "ok")


def record_key(kind: str, prompt_version: str, teacher: str, text: str) -> str:
    payload = "\x1f".join((kind, prompt_version, teacher, normalize_text(text)))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


RECORD_START = b'{"key": "'  # how json.dumps starts every record of ours (FIELDS[0] is "key")


def check_ours(path: Path) -> None:
    """Refuse, before anything touches it, a file we did not write: its first line must start
    like our records (a torn first record does too). Reads at most one bounded line."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() or not path.is_file():
        raise FsaError(f"{path}: not a regular file; the corpus must be a file written by `generate`")
    with open(path, "rb") as f:
        head = f.readline(limits.MAX_LINE_BYTES)
    if head and not head.startswith(RECORD_START):
        raise FsaError(f"{path}: line 1 is not a corpus record of ours; the file was not written by "
                       "`fsa-distill generate` and is left as it is (move it away or choose another out)")


def _complete_record(tail: bytes) -> bool:
    """A last line that lacks only its newline: one whole record (a crash between the record and
    its newline, or an editor that strips the final newline). Keeping it saves a paid request."""
    if not tail.startswith(RECORD_START):
        return False
    try:
        rec = json.loads(tail)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(rec, dict) and all(k in rec for k in FIELDS)


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline). Returns the number of bytes removed. A last
    line that is a complete record is kept: it only gets its newline back."""
    if not path.exists():
        return 0
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        # Walk back in blocks to the last newline; records are a few KB at most.
        pos, block = size, 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            if pos == size and chunk.endswith(b"\n"):
                return 0
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
            if size - pos > limits.MAX_LINE_BYTES:  # no record is that long: not a torn record
                raise FsaError(f"{path}: last line longer than {limits.MAX_LINE_BYTES} bytes; not a corpus "
                               "of ours (move it away)")
        else:
            keep = 0
        f.seek(keep)
        if _complete_record(f.read(size - keep)):
            f.seek(size)
            f.write(b"\n")
            keep = size
        else:
            f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


def scan(path: Path) -> tuple[set[str], list[dict]]:
    """Keys of finished records, plus a light view (kind, ok, flags, tokens) of each for totals."""
    keys: set[str] = set()
    light: list[dict] = []
    if not path.exists():
        return keys, light
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = rec["key"]
        except (json.JSONDecodeError, KeyError, TypeError, RecursionError):
            raise FsaError(f"{path}:{lineno}: not a corpus record; the file was edited or is not "
                           "ours (move it away to start over)") from None
        if not isinstance(key, str):
            raise FsaError(f"{path}:{lineno}: key: expected a string, got {type(key).__name__}")
        if key in keys:
            log.warning("%s:%d: duplicate key %s ignored", path, lineno, key[:12])
            continue
        keys.add(key)
        light.append({k: rec.get(k) for k in ("kind", "ok", "flags", "prompt_tokens", "completion_tokens")})
    return keys, light


class CorpusWriter:
    """Appends records to one file. `write_many` makes a group of records durable with one fsync
    (group commit): concurrency produces records in bursts, and one fsync per burst instead of
    per record keeps a fast teacher from waiting on the disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_ours(self.path)  # before repair_tail, which would cut a stranger's last line
        self.torn_bytes = repair_tail(self.path)
        if self.torn_bytes:
            log.warning("%s: cut a torn last line (%d bytes) left by an interrupted run", self.path, self.torn_bytes)
        self._f = open(self.path, "ab")

    def write_many(self, records: Iterable[dict]) -> int:
        data = b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8") for r in records)
        if not data:
            return 0
        try:
            self._f.write(data)
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            # Disk full or gone: what was fsync'ed before is kept; a torn tail is cut on resume.
            raise FsaError(f"{self.path}: cannot write ({e.strerror}); the records written before are kept, "
                           "re-run to resume") from None
        return data.count(b"\n")

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def totals(light: list[dict], drop: Optional[Iterable[str]] = None) -> dict:
    """Counts per kind, drops by reason, flags and tokens over (light) records."""
    drop = set(drop or ())
    per_kind: dict[str, Counter] = {}
    drops: Counter = Counter()
    flags: Counter = Counter()
    tokens = Counter()
    for r in light:
        c = per_kind.setdefault(r["kind"], Counter())
        c["records"] += 1
        c["ok" if r["ok"] else "dropped"] += 1
        for f in r.get("flags") or ():
            name = f.split(":", 1)[0]
            flags[name] += 1
            if not r["ok"] and name in drop:
                drops[name] += 1
        for t in ("prompt_tokens", "completion_tokens"):
            if r.get(t) is not None:
                tokens[t] += r[t]
                tokens["known_" + t] += 1
    return {"per_kind": {k: {"records": v["records"], "ok": v["ok"], "dropped": v["dropped"]}
                         for k, v in sorted(per_kind.items())},
            "drops": dict(drops.most_common()), "flags": dict(flags.most_common()),
            "tokens": {"prompt": tokens["prompt_tokens"] if tokens["known_prompt_tokens"] else None,
                       "completion": tokens["completion_tokens"] if tokens["known_completion_tokens"] else None}}
