"""Optional fast CPU generation through CTranslate2 (`pip install "fsa-distill[fast]"`).

Why CTranslate2 rather than ONNX Runtime: it converts T5 directly (no hand-exported encoder and
decoder graphs, no Python decoding loop), runs greedy search with a key/value cache in C++, and
sorts a large batch by length itself. On the tiny student its greedy outputs are identical to
`transformers` (checked by tests/test_inference.py and benchmarks/predict_speed.py).

The converted model is cached under `$FSA_DISTILL_CACHE/ct2/<key>`, keyed on the source folder's
files (names, sizes, mtimes), so a retrained model is converted again and an unchanged one is not.
Only the model types CTranslate2's Transformers converter knows (T5, mT5, BART, Marian, ...) work;
the MiniLM encoder-decoder preset does not, and says so.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from fsa_distill.errors import FsaError
from fsa_distill.student.models import cache_dir, from_model_text, to_model_text

log = logging.getLogger(__name__)

INSTALL_HINT = 'the fast path needs CTranslate2: pip install "fsa-distill[fast]" (or pip install ctranslate2)'


def require_ctranslate2():
    try:
        import ctranslate2
    except ImportError:
        raise FsaError(INSTALL_HINT) from None
    return ctranslate2


def _cache_key(source: str, model, tokenizer) -> str:
    import ctranslate2
    import transformers

    h = hashlib.sha256()
    h.update(f"{source}|{len(tokenizer)}|{ctranslate2.__version__}|{transformers.__version__}".encode())
    folder = Path(source)
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.is_file():
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    else:  # a hub id: the name and the vocabulary size are all we have
        h.update(type(model).__name__.encode())
    return h.hexdigest()[:16]


def convert(model, tokenizer, source: str) -> Path:
    """Convert the *loaded* model (which may have gained the [NL] token on load) to CTranslate2,
    once. Written to a temporary folder and renamed, so a half-converted model is never used."""
    require_ctranslate2()
    from ctranslate2.converters import TransformersConverter

    out = cache_dir() / "ct2" / _cache_key(source, model, tokenizer)
    if (out / "model.bin").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent))
    try:
        hf_dir = work / "hf"
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        log.info("converting the model to CTranslate2 (once) into %s", out)
        try:
            TransformersConverter(str(hf_dir)).convert(str(work / "ct2"), force=True)
        except Exception as e:  # the converter raises plain ValueError/KeyError for unsupported models
            kind = getattr(model.config, "model_type", type(model).__name__)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise FsaError(f"the fast path cannot convert this model ({kind}): {first}; run without --fast") from None
        if out.exists():  # another process converted it meanwhile
            shutil.rmtree(out, ignore_errors=True)
        (work / "ct2").rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


class CT2Generator:
    """Same contract as `evaluation.generate.generate`: texts in, decoded strings out, in order."""

    def __init__(self, model, tokenizer, source: str, device: str = "cpu", threads: int | None = None):
        ctranslate2 = require_ctranslate2()
        import torch

        self.tokenizer = tokenizer
        path = convert(model, tokenizer, source)
        # Same thread count as torch, so the two paths are compared on equal terms.
        self.translator = ctranslate2.Translator(str(path), device=device, inter_threads=1,
                                                 intra_threads=threads or torch.get_num_threads())

    def generate(self, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 100, num_beams: int = 1,
                 max_input_length: int | None = None, clean_up: bool = False) -> list[str]:
        if not texts:
            return []
        tok = self.tokenizer
        ids = tok([to_model_text(t) for t in texts], truncation=max_input_length is not None,
                  max_length=max_input_length)["input_ids"]
        tokens = [tok.convert_ids_to_tokens(x) for x in ids]
        # transformers' max_length counts the decoder start token; CTranslate2's does not.
        results = self.translator.translate_batch(tokens, max_batch_size=batch_size, beam_size=num_beams,
                                                  max_decoding_length=max(1, max_length - 1))
        out = []
        for r in results:
            out_ids = tok.convert_tokens_to_ids(r.hypotheses[0])
            out.append(from_model_text(tok.decode(out_ids, skip_special_tokens=True,
                                                  clean_up_tokenization_spaces=clean_up)))
        return out
