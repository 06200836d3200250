"""Build and load students: any Hugging Face seq2seq model by hub id or path, or a named preset.

Presets build a model offline from nothing but what is installed, and save it as a normal HF
folder (safetensors) under the preset cache, so every stage takes them like any other path:

    tiny    a ~1.4M-parameter T5 with a byte-level BPE tokenizer trained on the shipped data
            (for tests and quick demos; learns little; models/tiny.py)
    minilm  a BERT2BERT warm-started from MiniLM-L6 (models/minilm.py)
    minilm-tagger, mpnet-tagger
            extractive students (models/tagger.py): MiniLM-L6 or all-mpnet-base-v2 with a
            token-tagging / category head, which fine-tuning adds

A new preset is one builder(out_dir, seed) added to `PRESETS`.

Newlines: as in the reference, '\n' is written as an added '[NL]' token (decoding/text.py).
Weights load from safetensors only (`use_safetensors=True`): no pickle is ever unpickled.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable

from fsa_distill.decoding.text import NL_TOKEN
from fsa_distill.errors import FsaError
from fsa_distill.limits import clip, echo
from fsa_distill.models import minilm, tiny
from fsa_distill.models.folder import (  # noqa: F401
    META_FILE,
    check_model_spec,
    check_safetensors,
    check_weights,
    read_meta,
    save_student,
)

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    return Path(os.environ.get("FSA_DISTILL_CACHE", Path.home() / ".cache" / "fsa-distill"))


# ------------------------------------------------------------------------------------ loading
# name -> builder(out_dir, seed): each writes a complete model folder offline.
def _tagger(name: str) -> Callable[[Path, int], None]:
    def build(out_dir: Path, seed: int = 0) -> None:
        from fsa_distill.models import tagger  # torch and transformers: imported when a tagger is built

        getattr(tagger, f"build_{name}")(out_dir, seed)
    return build


PRESETS: dict[str, Callable[[Path, int], None]] = {"tiny": tiny.build_tiny, "minilm": minilm.build_minilm,
                                                   "minilm-tagger": _tagger("minilm_tagger"),
                                                   "mpnet-tagger": _tagger("mpnet_tagger")}
# The extractive presets (models/tagger.py): a pretrained encoder that fine-tuning gives a head.
EXTRACTIVE_PRESETS = ("minilm-tagger", "mpnet-tagger")


def build_preset(name: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a preset into `out_dir` atomically (a half-built folder is never left behind)."""
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


def resolve_model(spec: str) -> str:
    """A preset name becomes the path of its cached build (built on first use); a path or hub
    id is returned unchanged."""
    if spec in PRESETS and not Path(spec).exists():
        out = cache_dir() / "presets" / f"{spec}-v1"
        if not (out / "config.json").exists():
            _build_once(spec, out)
        return str(out)
    return spec


def _build_once(spec: str, out: Path, timeout_s: float = 1800) -> None:
    """Build a preset into the cache once, whoever asks first. On a fresh machine `run --jobs 2`
    starts two fine-tunings that both find no build; without the lock the second's atomic rename
    replaces the folder the first is already loading from (it then finds no weights)."""
    from filelock import FileLock, Timeout

    out.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out.parent / f".{out.name}.lock"))
    try:
        with lock.acquire(timeout=timeout_s):
            if not (out / "config.json").exists():  # the other process may have built it meanwhile
                log.info("building the %r student preset into %s", spec, out)
                build_preset(spec, out)
    except Timeout:
        raise FsaError(f"student preset {spec!r}: another process has held {lock.lock_file} for "
                       f"{timeout_s:.0f} s while building it; delete that file if no build is running") from None


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


def use_bf16(precision: str, key: str = "precision") -> bool:
    """Train in bf16? `auto`: where a CUDA device supports it (bf16 autocast on a CPU was slower
    than fp32); `bf16` on a device without it is an error, not a silent fp32 run."""
    import torch

    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not available:
        raise FsaError(f"{key}=bf16 needs a CUDA device with bf16 support; use {key}=auto")
    return precision != "fp32" and available


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
