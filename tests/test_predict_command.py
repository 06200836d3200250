"""`fsa-distill predict` end to end on the tiny model: files in every format, stdin/stdout, bad input."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys

import pytest

from fsa_distill.cli import main
from test_inference import make_tiny_model

TEXTS = ["The pasta was great but the waiter was rude.", "", "Service was slow, the food was cold.",
         "Nice view.\tQuiet room."]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def expected(model) -> dict[str, str]:
    from fsa_distill.inference import SentimentAnalyzer

    sa = SentimentAnalyzer.from_pretrained(model, device="cpu")
    texts = TEXTS + ["line one\nline two"]
    return {r.text: r.generated for r in sa.predict(texts)}


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["predict", "--no-progress", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_texts_as_arguments_to_stdout(model, expected, capsys):
    rc, out, err = run(capsys, "--model", model, TEXTS[0], TEXTS[2])
    assert rc == 0
    rows = jsonl(out)
    assert [(r["line"], r["id"], r["text"], r["status"]) for r in rows] == [(1, 1, TEXTS[0], "ok"), (2, 2, TEXTS[2], "ok")]
    assert [r["prediction"] for r in rows] == [expected[TEXTS[0]], expected[TEXTS[2]]]
    assert "predicted 2 text(s)" in err


def test_txt_in_jsonl_out_keeps_empty_lines_aligned(model, expected, tmp_path, capsys):
    src, dst = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    rc, out, err = run(capsys, "--model", model, "--input", str(src), "--output", str(dst), "--chunk-size", "2")
    assert rc == 0 and out == ""
    rows = jsonl(dst.read_text(encoding="utf-8"))
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r["text"] for r in rows] == TEXTS
    assert [r["status"] for r in rows] == ["ok", "empty", "ok", "ok"]
    assert [r["prediction"] for r in rows] == [expected[t] if t else "" for t in TEXTS]
    assert "predicted 4 text(s) (1 empty (kept as rows with status 'empty'))" in err


def test_jsonl_in_csv_out_with_ids_and_custom_field(model, expected, tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.csv"
    lines = [json.dumps({"review_id": "r1", "body": TEXTS[0]}), "",
             json.dumps({"review_id": "r2", "body": "line one\nline two"}), json.dumps({"body": None})]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc, _, err = run(capsys, "-m", model, "-i", str(src), "-o", str(dst), "--text-field", "body", "--id-field", "review_id")
    assert rc == 0, err
    with open(dst, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["line"], r["id"], r["status"]) for r in rows] == [("1", "r1", "ok"), ("2", "2", "empty"),
                                                                 ("3", "r2", "ok"), ("4", "4", "empty")]
    assert rows[2]["text"] == "line one\nline two" and rows[2]["prediction"] == expected["line one\nline two"]
    assert json.loads(rows[0]["aspects"]) == [] or "aspect" in json.loads(rows[0]["aspects"])[0]


def test_csv_in_jsonl_out_with_multiline_fields(model, expected, tmp_path, capsys):
    src, dst = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "stars", "review"])
        w.writerow(["a", 5, TEXTS[0]])
        w.writerow(["b", 1, "line one\nline two"])
        w.writerow(["c", 3, TEXTS[2]])
    rc, _, err = run(capsys, "--model", model, "--input", str(src), "--column", "review", "--output", str(dst))
    assert rc == 0, err
    rows = jsonl(dst.read_text(encoding="utf-8"))
    # the header is line 1; record "b" spans lines 3-4, so "c" starts on line 5
    assert [(r["line"], r["id"]) for r in rows] == [(2, "a"), (3, "b"), (5, "c")]
    assert [r["prediction"] for r in rows] == [expected[TEXTS[0]], expected["line one\nline two"], expected[TEXTS[2]]]


def test_stdin_to_stdout_in_a_subprocess(model, expected):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    cmd = [sys.executable, "-m", "fsa_distill.cli", "predict", "--model", model]
    piped = subprocess.run(cmd, input="\n".join(TEXTS).encode(), capture_output=True, env=env, timeout=300)
    assert piped.returncode == 0, piped.stderr.decode()
    rows = jsonl(piped.stdout.decode())
    assert [r["text"] for r in rows] == TEXTS
    assert [r["prediction"] for r in rows] == [expected[t] if t else "" for t in TEXTS]
    assert b"predict" in piped.stderr  # the progress bar and the summary go to stderr

    bad = subprocess.run(cmd + ["-", "--input-format", "txt"], input=b"ok line\nbad \xff byte\n",
                         capture_output=True, env=env, timeout=300)
    assert bad.returncode == 2
    assert b"Traceback" not in bad.stderr
    assert b"error: <stdin>: line 2: not valid UTF-8 (byte 0xff at column 5)" in bad.stderr


def test_long_texts_are_truncated_with_one_warning(model, tmp_path, capsys, caplog):
    src = tmp_path / "long.txt"
    src.write_text("short\n" + "word " * 50 + "\n" + "word " * 60 + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        rc, out, err = run(capsys, "--model", model, "--input", str(src), "--max-input-length", "20")
    assert rc == 0
    assert [r["status"] for r in jsonl(out)] == ["ok", "truncated", "truncated"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["2 text(s) longer than 20 tokens were truncated to fit the model"]
    assert "2 truncated" in err


@pytest.mark.parametrize("name, content, args, message", [
    ("latin1.txt", "caf\xe9 ok\n".encode("utf-8") + b"fine\ncaf\xe9\n", [],
     "latin1.txt: line 3: not valid UTF-8 (byte 0xe9 at column 4)"),
    ("x.jsonl", b'{"text": "a"}\n{"text": "b",\n', [], "x.jsonl: line 2: invalid JSON"),
    ("x.jsonl", b'{"text": "a"}\n{"body": "b"}\n', [], "x.jsonl: line 2: no 'text' key (keys: body)"),
    ("x.jsonl", b'{"text": 3}\n', [], "x.jsonl: line 1: 'text' is a int, expected a string"),
    ("x.csv", b"id,body\n1,a\n", [], "x.csv: no column 'text' (columns: id, body)"),
    ("x.docx", b"hello\n", [], "cannot tell the input format from '.docx'"),
])
def test_bad_input_files_are_one_line_errors(model, tmp_path, capsys, name, content, args, message):
    src = tmp_path / name
    src.write_bytes(content)
    rc, out, err = run(capsys, "--model", model, "--input", str(src), *args)
    assert rc == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_invocations_are_one_line_errors(model, tmp_path, capsys):
    cases = [
        (["--model", str(tmp_path / "no-model"), "text"], "no such folder"),
        (["--model", model, "--input", str(tmp_path / "missing.txt")], "missing.txt: no such file"),
        (["--model", model, "--input", str(tmp_path / "a.txt"), "text"], "not both"),
        (["--model", model, "text", "--output", str(tmp_path / "o.parquet")], "cannot tell the output format"),
        (["--model", model, "text", "--output", str(tmp_path / "no" / "dir.jsonl")], "dir.jsonl: cannot write"),
    ]
    (tmp_path / "same.txt").write_text("hi\n", encoding="utf-8")
    cases.append((["--model", model, "-i", str(tmp_path / "same.txt"), "-o", str(tmp_path / "same.txt"),
                   "--output-format", "jsonl"], "would overwrite the input"))
    for argv, message in cases:
        rc, out, err = run(capsys, *argv)
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert (tmp_path / "same.txt").read_text() == "hi\n"


def test_fast_flag_without_ctranslate2(model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)
    rc, _, err = run(capsys, "--model", model, "--fast", "text")
    assert rc == 2 and 'pip install "fsa-distill[fast]"' in err


def test_fast_flag_gives_the_same_rows(model, tmp_path, capsys):
    pytest.importorskip("ctranslate2")
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    _, plain, _ = run(capsys, "--model", model, "--input", str(src))
    rc, fast, err = run(capsys, "--model", model, "--input", str(src), "--fast")
    assert rc == 0, err
    assert jsonl(fast) == jsonl(plain)


def test_compute_type_without_fast_is_one_line_before_loading(model, capsys):
    rc, out, err = run(capsys, "--model", model, "--compute-type", "int8", "text")
    assert rc == 2 and "needs the fast path" in err and len(err.strip().splitlines()) == 1 and not out


def test_fast_int8_gives_a_row_per_text(model, capsys):
    pytest.importorskip("ctranslate2")
    rc, out, err = run(capsys, "--model", model, "--fast", "--compute-type", "int8", *TEXTS)
    assert rc == 0, err
    assert [r["text"] for r in jsonl(out)] == TEXTS


def test_bad_byte_after_the_first_chunk_of_stdin_keeps_the_rows_before_it(model, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"first\nsecond\nthird \xc3(\n")))
    rc, out, err = run(capsys, "--model", model, "--chunk-size", "1")
    assert rc == 2
    assert [r["text"] for r in jsonl(out)] == ["first", "second"]
    assert err.strip().endswith("error: <stdin>: line 3: not valid UTF-8 (byte 0xc3 at column 7); "
                                "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8 (2 row(s) written before it)")
