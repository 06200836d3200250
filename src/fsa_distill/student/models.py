"""Build and load students: any Hugging Face seq2seq model by hub id or path, or a named preset.

Presets build a model offline from nothing but what is installed, and save it as a normal HF
folder (safetensors) under the preset cache, so every stage takes them like any other path:

    tiny    a ~1.4M-parameter T5 with a byte-level BPE tokenizer trained on the shipped data
            (for tests and quick demos; learns little)

Other presets register themselves in `PRESETS` (name -> builder(out_dir, seed)).

Newlines: as in the reference, '\n' is written as an added '[NL]' token on both sides.
Weights load from safetensors only (`use_safetensors=True`): no pickle is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable

from fsa_distill.errors import FsaError
from fsa_distill.limits import clip, echo

log = logging.getLogger(__name__)

NL_TOKEN = "[NL]"
META_FILE = "fsa_distill.json"  # what made a model folder: base model, teacher, task ...
PRESETS: dict[str, Callable[[Path, int], None]] = {}


def preset(name: str):
    def register(fn):
        PRESETS[name] = fn
        return fn
    return register


def cache_dir() -> Path:
    return Path(os.environ.get("FSA_DISTILL_CACHE", Path.home() / ".cache" / "fsa-distill"))


def to_model_text(text: str) -> str:
    return text.replace("\n", NL_TOKEN)


def from_model_text(text: str) -> str:
    return text.replace(NL_TOKEN, "\n")


# --------------------------------------------------------------------------------------- tiny
def _tokenizer_corpus() -> list[str]:
    """Shipped text the tiny tokenizer is trained on: train/dev sentences and targets of every
    benchmark dataset plus the teacher sample. Test sets are left out so nothing leaks."""
    from fsa_distill import resources
    from fsa_distill.benchmark.data import TASK_DATASETS, load_split
    from fsa_distill.benchmark.targets import make_target

    texts = []
    for task, datasets in TASK_DATASETS.items():
        for ds in datasets:
            for split in ("train", "dev"):
                for ex in load_split(task, ds, split):
                    texts += [ex.sentence, make_target(task, ex)]
    with resources.open_text(resources.teacher_sample_path()) as f:
        for line in f:
            rec = json.loads(line)
            texts += [rec["Text"], rec["mixtral_response"]]
    return texts


def train_tokenizer(texts: list[str], vocab_size: int = 4000):
    """Byte-level BPE: every string round-trips exactly (T5's sentencepiece maps some
    characters to <unk>), which matters when generated aspect terms must match the sentence."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    # T5 convention: the encoder input and the labels end with </s>.
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   clean_up_tokenization_spaces=False, model_max_length=512)


@preset("tiny")
def build_tiny(out_dir: Path, seed: int = 0) -> None:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = train_tokenizer(_tokenizer_corpus())
    tokenizer.add_tokens([NL_TOKEN])
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=128, d_kv=32, d_ff=512, num_layers=2,
                      num_decoder_layers=2, num_heads=4, dropout_rate=0.1, feed_forward_proj="relu",
                      tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    model = T5ForConditionalGeneration(config)
    save_student(model, tokenizer, out_dir, meta={"kind": "preset", "preset": "tiny", "base_model": None})


# ------------------------------------------------------------------------------------ loading
def save_student(model, tokenizer, out_dir: Path, meta: dict | None = None) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if meta is not None:
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def read_meta(path: str | Path) -> dict:
    p = Path(path) / META_FILE
    if p.exists():
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise FsaError(f"{p}: invalid JSON") from None
    return {}


def build_preset(name: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a preset into `out_dir` atomically (a half-built folder is never left behind)."""
    _load_optional_presets()
    if name not in PRESETS:
        raise FsaError(f"unknown student preset {name!r}: expected one of {', '.join(sorted(PRESETS))}")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        PRESETS[name](tmp, seed)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _load_optional_presets() -> None:
    # Presets that need optional packages live in their own modules and register on import.
    try:
        import fsa_distill.student.minilm  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "fsa_distill.student.minilm":
            log.debug("minilm preset unavailable: %s", e)


def resolve_model(spec: str) -> str:
    """A preset name becomes the path of its cached build (built on first use); a path or hub
    id is returned unchanged."""
    _load_optional_presets()
    if spec in PRESETS and not Path(spec).exists():
        out = cache_dir() / "presets" / f"{spec}-v1"
        if not (out / "config.json").exists():
            log.info("building the %r student preset into %s", spec, out)
            build_preset(spec, out)
        return str(out)
    return spec


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


def check_device(spec: str) -> None:
    """`--device` must name a device this machine has, before a model is loaded onto it."""
    import torch

    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        raise FsaError(f"device {echo(spec)}: not a device name (expected cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count()
        if n == 0:
            raise FsaError(f"device {echo(spec)}: this machine has no CUDA device (use cpu)")
        if dev.index is not None and dev.index >= n:
            raise FsaError(f"device {echo(spec)}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise FsaError(f"device {echo(spec)}: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise FsaError(f"device {echo(spec)}: not supported (expected cpu, cuda, cuda:N or mps)")


def load_student(spec: str, device: str | None = None):
    """(model, tokenizer) for a preset name, a local folder or a hub id. Ensures the [NL] token."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    check_model_spec(spec)
    path = resolve_model(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSeq2SeqLM.from_pretrained(path, use_safetensors=True)
    except (OSError, ValueError) as e:  # missing files, or a folder without a usable tokenizer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FsaError(f"model {spec!r}: could not load ({clip(first, 200)})") from None
    except Exception as e:  # what check_weights cannot see: safetensors' own checks
        if type(e).__name__ != "SafetensorError":
            raise
        raise FsaError(f"model {spec!r}: could not load its weights ({clip(str(e), 200)})") from None
    if NL_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([NL_TOKEN])
        resize_embeddings(model, len(tokenizer))
    if model.config.model_type == "encoder-decoder":
        # EncoderDecoderModel warns on every loss about a change made in transformers 4.12; our
        # students are built after it, so the warning only misleads.
        warnings.filterwarnings("ignore", message="Version v4.12.0 introduces a better way", category=FutureWarning)
    if device:
        model.to(device)
    return model, tokenizer


def resize_embeddings(model, new_size: int) -> None:
    """`model.resize_token_embeddings` for any student: EncoderDecoderModel refuses it, so resize
    its encoder and decoder separately ."""
    from transformers import EncoderDecoderModel

    if isinstance(model, EncoderDecoderModel):
        model.encoder.resize_token_embeddings(new_size)
        model.decoder.resize_token_embeddings(new_size)
        model.config.vocab_size = model.config.decoder.vocab_size = new_size
        model.config.encoder.vocab_size = new_size
    else:
        model.resize_token_embeddings(new_size)


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
