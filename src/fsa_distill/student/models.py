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


def load_student(spec: str, device: str | None = None):
    """(model, tokenizer) for a preset name, a local folder or a hub id. Ensures the [NL] token."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    path = resolve_model(spec)
    local = Path(path).exists()
    if not local and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise FsaError(f"model {spec!r}: no such folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSeq2SeqLM.from_pretrained(path, use_safetensors=True)
    except (OSError, ValueError) as e:  # missing files, or a folder without a usable tokenizer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FsaError(f"model {spec!r}: could not load ({first})") from None
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
