"""`predict` with closed or full streams, a bad byte mid-stdin, bad devices; line numbers right."""

from __future__ import annotations

import io
import json
import sys

import pytest

from helpers import assert_one_line_error, cli, run_cli
from test_inference import make_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.getbasetemp()))


def test_stdin_closed(model):
    r = run_cli("predict", "--model", model, "-i", "-", "--no-progress", shell_redirect="<&-")
    assert_one_line_error(r.returncode, r.stderr.decode(), "<stdin>: stdin is closed")


def test_stdout_closed(model, tmp_path):
    r = run_cli("predict", "--model", model, "some text", "--no-progress", shell_redirect=">&-")
    assert_one_line_error(r.returncode, r.stderr.decode(), "<stdout>: stdout is closed", "--output FILE")


def test_output_to_a_full_device(model, capsys):
    rc, _, err = cli(capsys, "predict", "--model", model, "-o", "/dev/full", "--output-format", "jsonl",
                     "--no-progress", "The soup was cold.", "Nice view.")
    assert_one_line_error(rc, err, "/dev/full: cannot write (No space left on device)")


def test_output_that_is_a_folder(model, capsys, tmp_path):
    rc, _, err = cli(capsys, "predict", "--model", model, "-o", tmp_path, "--output-format", "jsonl", "x")
    assert_one_line_error(rc, err, f"{tmp_path}: is a folder")


def test_a_bad_byte_mid_stdin_keeps_every_row_before_it(model, monkeypatch, capsys):
    """Chunks of 4: the bad line 7 sits in the second chunk; rows 5 and 6 of that chunk used to be
    dropped (the chunk was never predicted). Now rows 1-6 are written, then the error."""
    lines = [f"review number {i} was fine" for i in range(1, 7)]
    data = ("\n".join(lines) + "\n").encode() + b"bad \xff byte\nnever read\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    rc, out, err = cli(capsys, "predict", "--model", model, "--chunk-size", "4", "--no-progress")
    assert_one_line_error(rc, err, "<stdin>: line 7: not valid UTF-8 (byte 0xff at column 5)",
                          "(6 row(s) written before it)")
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6] and [r["text"] for r in rows] == lines


def test_a_bad_byte_on_jsonl_line_5_is_reported_as_line_5(model, tmp_path, capsys):
    p = tmp_path / "in.jsonl"
    p.write_bytes(b"".join(json.dumps({"text": f"t{i}"}).encode() + b"\n" for i in range(4)) + b'{"text": "caf\xe9"}\n')
    rc, _, err = cli(capsys, "predict", "--model", model, "-i", p, "--no-progress")
    assert_one_line_error(rc, err, "in.jsonl: line 5: not valid UTF-8")
    # and in a predictions file read by `score` (resources.iter_jsonl, which said "line 1")
    preds = tmp_path / "preds.jsonl"
    preds.write_bytes(b"".join(json.dumps({"id": str(i), "prediction": "food | positive"}).encode() + b"\n"
                               for i in range(4)) + b'{"id": "4", "prediction": "caf\xe9 | positive"}\n')
    rc, _, err = cli(capsys, "score", "--task", "atsa", "--dataset", "rest14", "--predictions", preds)
    assert_one_line_error(rc, err, "preds.jsonl: line 5: not valid UTF-8")


def test_an_overlong_text_is_an_error_naming_its_line(model, tmp_path, capsys):
    p = tmp_path / "in.txt"
    p.write_text("short\n" + "word " * 5000 + "\n")
    rc, _, err = cli(capsys, "predict", "--model", model, "-i", p, "--no-progress")
    assert_one_line_error(rc, err, "in.txt: line 2: text of 25000 characters, more than 20000",
                          "FSA_DISTILL_MAX_TEXT_CHARS")


@pytest.mark.parametrize("device,needle", [
    ("banana", "device 'banana': not a device name"),
    ("cuda:7", "device 'cuda:7': this machine has"),
    ("tpu", "device 'tpu': not"),
])
def test_bad_devices_are_one_line_before_loading(model, capsys, device, needle):
    import torch

    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    rc, _, err = cli(capsys, "predict", "--model", model, "--device", device, "text")
    assert_one_line_error(rc, err, needle)
