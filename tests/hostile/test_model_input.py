"""Model folders a hostile user hands to `evaluate` and `predict`: truncated, header-corrupted and
absurd-header model.safetensors, a folder that does not exist, bad evaluate options."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from helpers import assert_one_line_error, cli
from test_inference import make_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.getbasetemp()))


def _header(data: bytes) -> tuple[int, dict]:
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8:8 + n])


def _corrupt(data: bytes, how: str) -> bytes:
    n, header = _header(data)
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "shorter than 8 bytes":
        return data[:5]
    if how == "absurd header length":
        return struct.pack("<Q", 2 ** 60) + data[8:]
    if how == "header not JSON":
        return data[:8] + b"\x00" * n + data[8 + n:]
    if how == "offsets past the end":
        name = next(k for k in header if k != "__metadata__")
        header[name]["data_offsets"] = [0, 10 ** 12]
    elif how == "offsets not matching the shape":
        name = next(k for k in header if k != "__metadata__")
        header[name]["shape"] = [3, 3]
    raw = json.dumps(header).encode()
    raw += b" " * (n - len(raw)) if len(raw) <= n else b""
    return struct.pack("<Q", len(raw)) + raw + data[8 + n:]


HOW = ["truncated", "shorter than 8 bytes", "absurd header length", "header not JSON", "offsets past the end",
       "offsets not matching the shape"]


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_safetensors_file_is_one_line_naming_it(model, tmp_path, capsys, how):
    bad = tmp_path / "model"
    shutil.copytree(model, bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(_corrupt(weights.read_bytes(), how))
    for argv in (["evaluate", "--model", bad, "--limit", "2", "--quiet"],
                 ["predict", "--model", bad, "--no-progress", "The soup was cold."]):
        rc, _, err = cli(capsys, *argv)
        assert_one_line_error(rc, err, f"{weights}: not a valid safetensors file")


def test_evaluate_a_folder_that_does_not_exist(capsys, tmp_path):
    rc, _, err = cli(capsys, "evaluate", "--model", tmp_path / "nope")
    assert_one_line_error(rc, err, "nope': no such folder")


@pytest.mark.parametrize("argv,needle", [
    (["--num-beams", "0"], "--num-beams must be at least 1 (got 0)"),
    (["--batch-size", "-3"], "--batch-size must be at least 1"),
    (["--max-length", "0"], "--max-length must be at least 1"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--views", "normal,nrmal"], "unknown view 'nrmal'"),
    (["--compute-type", "int8"], "compute type int8: needs the fast path"),
])
def test_bad_evaluate_options_are_one_line_before_loading(model, capsys, argv, needle):
    rc, _, err = cli(capsys, "evaluate", "--model", model, *argv)
    assert_one_line_error(rc, err, needle)


def test_evaluate_output_that_is_a_regular_file(model, capsys, tmp_path):
    f = tmp_path / "out"
    f.write_text("mine")
    rc, _, err = cli(capsys, "evaluate", "--model", model, "--output", f / "sub", "--limit", "2")
    assert_one_line_error(rc, err, f"{f}: is a file, not a folder")
    assert f.read_text() == "mine"
