"""`generate` and the corpus readers against hostile files: a record without its newline, a
stranger's corpus.jsonl, two runs on one folder, truncated .gz, wrong field types, devices,
a full disk, Latin-1 and broken CSV."""

from __future__ import annotations

import errno
import gzip
import json
import os
import subprocess
import sys

import pytest
from helpers import SRC, assert_one_line_error, cli

from fsa_distill.errors import FsaError
from fsa_distill.student import pretrain_data as student_corpus

FAST = ["reviews.sample.n=3", "reviews.leak_guard.enabled=false", "--no-progress", "--json"]


def generate(capsys, out, *extra):
    return cli(capsys, "generate", f"output_dir={out}", *FAST, *extra)


def test_a_valid_last_record_without_its_newline_is_kept_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = generate(capsys, out)
    assert rc == 0, err
    corpus = out / "corpus.jsonl"
    data = corpus.read_bytes()
    corpus.write_bytes(data[:-1])  # a crash between the record and its newline (a paid answer)
    rc, stdout, err = generate(capsys, out)
    assert rc == 0, err
    run = json.loads(stdout)["run"]
    assert run["written"] == 0 and run["torn_bytes_repaired"] == 0  # kept, not cut and asked again
    assert corpus.read_bytes() == data


def test_a_torn_last_record_is_still_cut_and_redone(tmp_path, capsys):
    out = tmp_path / "run"
    assert generate(capsys, out)[0] == 0
    corpus = out / "corpus.jsonl"
    data = corpus.read_bytes()
    corpus.write_bytes(data[:-40])
    rc, stdout, _ = generate(capsys, out)
    assert rc == 0 and json.loads(stdout)["run"]["written"] == 1
    assert corpus.read_bytes() == data


def test_a_users_own_corpus_jsonl_is_never_modified(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    mine = b'{"text": "my notes", "label": 1}\n{"text": "last line without newline"'
    (out / "corpus.jsonl").write_bytes(mine)
    rc, _, err = generate(capsys, out)
    assert_one_line_error(rc, err, "corpus.jsonl: line 1 is not a corpus record of ours", "left as it is")
    assert (out / "corpus.jsonl").read_bytes() == mine
    assert sorted(p.name for p in out.iterdir()) == [".lock", "corpus.jsonl"]  # no config.yaml written either


def test_a_second_generate_on_the_same_folder_names_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from fsa_distill.resources import FolderLock\n"
         f"with FolderLock({str(out)!r}, 'generate'):\n print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        assert holder.stdout.readline().strip() == b"locked"
        rc, _, err = generate(capsys, out)
        assert_one_line_error(rc, err, f"{out}: in use by another generate (pid {holder.pid})")
        assert not (out / "corpus.jsonl").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert generate(capsys, out)[0] == 0  # released with its process


def test_a_truncated_gz_corpus_is_one_line(tmp_path, capsys):
    good = gzip.compress(b"".join(json.dumps({"Text": f"review {i} " * 20, "mixtral_response": "Opinion Target 1: x"})
                                  .encode() + b"\n" for i in range(200)))
    bad = tmp_path / "rec.jsonl.gz"
    bad.write_bytes(good[: len(good) // 2])
    rc, _, err = generate(capsys, tmp_path / "run", f"backend.recordings={bad}")
    assert_one_line_error(rc, err, "rec.jsonl.gz: line", "the gzip file is truncated")
    with pytest.raises(FsaError, match=r"rec\.jsonl\.gz: line \d+: could not read \(the gzip file is truncated\)"):
        student_corpus.read_records([bad])


@pytest.mark.parametrize("field,value,needle", [
    ("ok", "no", "field 'ok' must be true or false (got str 'no')"),
    ("domain", 7, "field 'domain' must be a string (got int 7)"),
    ("teacher", ["x"], "field 'teacher' must be a string"),
    ("kind", 3, "field 'kind' must be a string"),
])
def test_a_corpus_record_with_a_wrong_type_names_file_line_and_field(tmp_path, field, value, needle):
    p = tmp_path / "c.jsonl"
    good = {"text": "The soup was cold.", "response": "I found the soup cold.", "kind": "rewrite", "ok": True}
    p.write_text(json.dumps(good) + "\n" + json.dumps({**good, field: value}) + "\n")
    with pytest.raises(FsaError) as e:
        student_corpus.read_records([p])
    assert str(e.value).startswith(f"{p}:2: ") and needle in str(e.value)


def test_a_bad_byte_in_the_pretraining_corpus_names_the_line(tmp_path):
    p = tmp_path / "c.jsonl"
    rec = json.dumps({"text": "ok", "response": "I liked it."}).encode() + b"\n"
    p.write_bytes(rec * 4 + rec.replace(b"liked", b"lik\xe9d"))
    with pytest.raises(FsaError, match=r"c\.jsonl: line 5: not valid UTF-8 \(byte 0xe9 at column \d+\)"):
        student_corpus.read_records([p])


def test_a_device_or_endless_line_as_the_recordings_is_not_read_forever(tmp_path, capsys):
    rc, _, err = generate(capsys, tmp_path / "a", "backend.recordings=/dev/zero")
    assert_one_line_error(rc, err, "/dev/zero: not a regular file")
    endless = tmp_path / "one-line.jsonl"
    endless.write_bytes(b"x" * (2 * 1024 * 1024))  # no newline: more than MAX_LINE_BYTES
    rc, _, err = generate(capsys, tmp_path / "b", f"backend.recordings={endless}")
    assert_one_line_error(rc, err, "one-line.jsonl: line 1: longer than 1048576 bytes", "FSA_DISTILL_MAX_LINE_BYTES")


def test_a_corpus_file_that_is_a_device_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "corpus.jsonl").symlink_to("/dev/full")
    rc, _, err = generate(capsys, out)
    assert_one_line_error(rc, err, "corpus.jsonl: not a regular file")


def test_a_full_disk_keeps_what_was_written_and_says_so(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert generate(capsys, out, "reviews.sample.n=2")[0] == 0
    before = (out / "corpus.jsonl").read_bytes()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    import fsa_distill.teacher.corpus as corpus_mod

    monkeypatch.setattr(corpus_mod.os, "fsync", full)
    try:
        rc, _, err = generate(capsys, out, "reviews.sample.n=5")
    finally:
        monkeypatch.setattr(corpus_mod.os, "fsync", real_fsync)
    assert_one_line_error(rc, err, "corpus.jsonl: cannot write (No space left on device)", "re-run to resume")
    assert (out / "corpus.jsonl").read_bytes().startswith(before)
    rc, stdout, err = generate(capsys, out, "reviews.sample.n=5")  # space again: resumes
    assert rc == 0, err
    assert len((out / "corpus.jsonl").read_text().splitlines()) == 5


def test_a_latin1_csv_of_reviews_names_file_and_line(tmp_path, capsys):
    p = tmp_path / "reviews.csv"
    p.write_bytes("ID,Text,Overall\n1,The food was good and warm,5\n".encode() + b"2,Caf\xe9 was nice and quiet,4\n")
    rc, _, err = generate(capsys, tmp_path / "run", f"reviews.path={p}")
    assert_one_line_error(rc, err, "reviews.csv: line 3: not valid UTF-8 (byte 0xe9", "iconv")


def test_a_csv_with_an_unterminated_quote_is_an_error(tmp_path, capsys):
    p = tmp_path / "reviews.csv"
    p.write_text('ID,Text,Overall\n1,"The food was good and warm,5\n2,Nice place to sit for hours,4\n')
    rc, _, err = generate(capsys, tmp_path / "run", f"reviews.path={p}")
    assert_one_line_error(rc, err, "reviews.csv:3: bad CSV (unexpected end of data)")


def test_a_parquet_of_reviews_over_the_file_limit(tmp_path, capsys, monkeypatch):
    import pandas as pd  # a hard dependency: a broken install fails here, never skips
    from fsa_distill import limits

    p = tmp_path / "reviews.parquet"
    pd.DataFrame({"ID": ["1"], "Text": ["The food was good and warm"], "Overall": [5]}).to_parquet(p)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 100)
    rc, _, err = generate(capsys, tmp_path / "run", f"reviews.path={p}")
    assert_one_line_error(rc, err, "reviews.parquet: larger than 100 bytes", "FSA_DISTILL_MAX_FILE_BYTES")
