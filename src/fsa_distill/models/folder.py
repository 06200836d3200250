"""A model folder on disk: what `save_student` writes and every loader checks first.

A student folder is a plain Hugging Face folder (config.json, model.safetensors, tokenizer files)
plus `fsa_distill.json`, what made it (base model, teacher, task, decode settings). Weights are
checked before transformers reads them and load from safetensors only: no pickle is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

from fsa_distill.errors import FsaError
from fsa_distill.limits import echo
from fsa_distill.runs import write_json

META_FILE = "fsa_distill.json"  # what made a model folder: base model, teacher, task ...


def save_student(model, tokenizer, out_dir: Path, meta: dict | None = None) -> None:
    """A model folder: safetensors weights, config, tokenizer and (with `meta`) fsa_distill.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if meta is not None:
        write_meta(out_dir, meta)


def write_meta(folder: Path, meta: dict) -> None:
    """The one writer of fsa_distill.json: `save_student` calls it, and so do the stages that
    complete a folder written before (a fine-tuning's scores, a pretraining checkpoint exported)."""
    write_json(Path(folder) / META_FILE, meta)


def read_meta(path: str | Path) -> dict:
    p = Path(path) / META_FILE
    if p.exists():
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise FsaError(f"{p}: invalid JSON") from None
    return {}


# Bytes per element of each safetensors dtype, to check that a tensor's bytes match its shape.
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def check_safetensors(path: Path) -> None:
    """Check a .safetensors file cheaply before a loader trusts it: the 8-byte little-endian
    header length is bounded by the file and limits.MAX_SAFETENSORS_HEADER_BYTES, the header is
    a JSON object, and every tensor's byte range lies inside the file and fits its shape. A
    truncated download or a corrupted header is then one line naming the file, not a
    SafetensorError (or a multi-gigabyte allocation) inside transformers."""
    from fsa_distill import limits

    def bad(why: str) -> FsaError:
        return FsaError(f"{path}: not a valid safetensors file ({why}); re-save or re-download the model")

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise bad(f"{size} bytes, shorter than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > size - 8 or n > limits.MAX_SAFETENSORS_HEADER_BYTES:
            raise bad(f"header length {n} exceeds the file's {size} bytes or the "
                      f"{limits.MAX_SAFETENSORS_HEADER_BYTES}-byte limit")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise bad("the header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    data_bytes = size - 8 - n
    for name, t in header.items():
        if name == "__metadata__":
            continue
        offsets = t.get("data_offsets") if isinstance(t, dict) else None
        shape = t.get("shape") if isinstance(t, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(x) is int for x in offsets)
                or not isinstance(shape, list) or not all(type(x) is int and x >= 0 for x in shape)):
            raise bad(f"tensor {echo(name)}: no valid data_offsets/shape")
        begin, end = offsets
        if not 0 <= begin <= end <= data_bytes:
            raise bad(f"tensor {echo(name)}: bytes {begin}-{end} lie outside the file's {data_bytes} data "
                      "bytes (truncated?)")
        width = _DTYPE_BYTES.get(t.get("dtype"))
        count = 1
        for d in shape:
            count *= d
        if width is not None and count * width != end - begin:
            raise bad(f"tensor {echo(name)}: {end - begin} bytes for shape {echo(shape)}")


def check_weights(folder: Path) -> None:
    """`check_safetensors` on every weights file of a model folder (single or sharded)."""
    index = folder / "model.safetensors.index.json"
    files = [folder / "model.safetensors"]
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise FsaError(f"{index}: not a valid safetensors index") from None
        files += [folder / str(s) for s in sorted(shards)]
    for f in files:
        if f.is_file():
            check_safetensors(f)


def check_model_spec(spec: str) -> None:
    """Fail before anything loads: a path-like spec must be an existing folder with sound
    weights; a preset name or hub id passes (they are resolved later)."""
    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir():
            raise FsaError(f"model {echo(spec)}: is a file; expected a model folder")
        check_weights(p)
    elif spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise FsaError(f"model {echo(spec)}: no such folder")


