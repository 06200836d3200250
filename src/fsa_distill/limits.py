"""Limits on what any input may make us read, expand or hold: one documented place.

Every reader of user input (YAML configs, JSON dataset files, JSON-lines corpora and predict
input, CSV/Parquet/XML imports, safetensors headers, HTTP request bodies) checks the limit that
applies here, so that no file or request can exhaust memory or recursion, and error messages
never echo more than `MAX_ECHO_CHARS` of an offending value.

Each limit can be raised with an environment variable of the same name prefixed `FSA_DISTILL_`
(e.g. `FSA_DISTILL_MAX_TEXT_CHARS=200000`); docs list them under "errors and limits".
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(f"FSA_DISTILL_{name}")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value > 0 else default


# Characters of one sentence, review or predict text (the longest benchmark sentence is < 400;
# the longest shipped review about 1,000).
MAX_TEXT_CHARS = _env_int("MAX_TEXT_CHARS", 20_000)
# Bytes of one dataset, config or import file read whole.
MAX_FILE_BYTES = _env_int("MAX_FILE_BYTES", 256 * 1024 * 1024)
# Bytes of one line of a JSON-lines file (a corpus record with a long teacher answer is < 20 kB).
MAX_LINE_BYTES = _env_int("MAX_LINE_BYTES", 1024 * 1024)
# Bytes a binary or compressed import (Parquet, a Hugging Face dataset's Arrow files, a folder of
# data files) may decode to: every cell's bytes plus DECODED_CELL_BYTES per cell, counted batch by
# batch before the cells become Python values (a 1 MB Parquet file of one repeated string can hold GBs).
MAX_DECODED_BYTES = _env_int("MAX_DECODED_BYTES", 256 * 1024 * 1024)
DECODED_CELL_BYTES = 64  # what one cell costs as a Python value, beyond its bytes
# Nesting depth of JSON values (a dataset record is 4 deep).
MAX_JSON_DEPTH = _env_int("MAX_JSON_DEPTH", 64)
# Bytes of one YAML config file (recipes are a few kB; a pipeline experiment with every stage < 20 kB).
MAX_CONFIG_BYTES = _env_int("MAX_CONFIG_BYTES", 1024 * 1024)
# Values (scalars, lists, mappings) a YAML config may expand to once its aliases are followed: a
# 350-byte "billion laughs" file of nested aliases expands to 10^9 values.
MAX_YAML_NODES = _env_int("MAX_YAML_NODES", 100_000)
# Bytes of the JSON header of one model.safetensors file (a 1B-parameter model's is < 1 MB).
MAX_SAFETENSORS_HEADER_BYTES = _env_int("MAX_SAFETENSORS_HEADER_BYTES", 100 * 1024 * 1024)
# Characters of an offending value quoted in an error message.
MAX_ECHO_CHARS = 80


def echo(value: object) -> str:
    """A short repr of `value` (at most about MAX_ECHO_CHARS, whatever its size or nesting):
    what an error message may quote of bad input."""
    import reprlib

    r = reprlib.Repr()  # bounded in depth and width, unlike repr() (Python 3.11 has no kwargs)
    r.maxlevel, r.maxstring, r.maxother, r.maxlist, r.maxdict = 2, MAX_ECHO_CHARS, MAX_ECHO_CHARS, 4, 4
    text = r.repr(value)
    return text if len(text) <= MAX_ECHO_CHARS + 10 else text[:MAX_ECHO_CHARS] + "..."


def clip(text: str, n: int = MAX_ECHO_CHARS) -> str:
    """Plain text cut to about `n` characters (a key path or a message built from input)."""
    text = str(text)
    return text if len(text) <= n else text[:n] + "..."
