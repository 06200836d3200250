"""Optional fast CPU generation through CTranslate2 (`pip install "fsa-distill[fast]"`).

Why CTranslate2 rather than ONNX Runtime: it converts T5 directly (no hand-exported encoder and
decoder graphs, no Python decoding loop), runs greedy search with a key/value cache in C++, and
sorts a large batch by length itself. On the tiny student its greedy outputs are identical to
`transformers` (checked by tests/test_inference.py and benchmarks/predict_speed.py).

The converted model is cached under `$FSA_DISTILL_CACHE/ct2/<key>`, keyed on the source folder's
files (names, sizes, mtimes), so a retrained model is converted again and an unchanged one is not.
T5, mT5, BART, Marian ... go through CTranslate2's own Transformers converter. The `minilm`
preset (a BERT2BERT `EncoderDecoderModel`, which that converter does not know) is written into
CTranslate2's post-norm Transformer spec by `bert2bert_spec` below.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from fsa_distill.decoding.text import from_model_text, to_model_text
from fsa_distill.errors import FsaError
from fsa_distill.limits import clip
from fsa_distill.models import cache_dir

log = logging.getLogger(__name__)

INSTALL_HINT = 'the fast path needs CTranslate2: pip install "fsa-distill[fast]" (or pip install ctranslate2)'

# How CTranslate2 computes. float32 gives transformers' answers (tested); the int8 and int16 types
# quantize the weights when the model loads (the converted files stay float32) and change some
# answers: docs/predict.md measures how many and what they cost in F1.
COMPUTE_TYPES = ("float32", "int8", "int16")  # on CPU, int8 is int8_float32


def add_fast_flags(p) -> None:
    """`--fast` and `--compute-type`, the same for predict, serve and evaluate."""
    p.add_argument("--fast", action="store_true", help='CTranslate2 CPU path (pip install "fsa-distill[fast]")')
    p.add_argument("--compute-type", choices=COMPUTE_TYPES,
                   help="with --fast: float32 (default; the same answers as without --fast) or a quantized "
                        "type (int8: about 3x faster again on CPU, some answers change; see docs/predict.md)")


def check_compute_type(fast: bool, compute_type: str | None) -> str:
    """The compute type to use; asking for one without the fast path is an error, not a no-op."""
    if compute_type is None:
        return "float32"
    if not fast:
        raise FsaError(f"compute type {clip(compute_type)}: needs the fast path (--fast, fast=True): "
                       "it is a CTranslate2 setting")
    if compute_type not in COMPUTE_TYPES:
        raise FsaError(f"compute type {clip(compute_type)}: expected one of {', '.join(COMPUTE_TYPES)}")
    return compute_type


def check_fast_settings(fast: bool, compute_type: str | None) -> str:
    """What predict, serve and evaluate check before loading anything: the compute type (see
    check_compute_type) and, with the fast path, that CTranslate2 is installed."""
    compute_type = check_compute_type(fast, compute_type)
    if fast:
        require_ctranslate2()
    return compute_type


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
        if getattr(model.config, "model_type", None) != "encoder-decoder":
            model.save_pretrained(hf_dir, safe_serialization=True)
            tokenizer.save_pretrained(hf_dir)
        log.info("converting the model to CTranslate2 (once) into %s", out)
        try:
            if getattr(model.config, "model_type", None) == "encoder-decoder":
                save_bert2bert(model, tokenizer, work / "ct2")  # the minilm preset: no stock converter
            else:
                TransformersConverter(str(hf_dir)).convert(str(work / "ct2"), force=True)
        except FsaError:
            raise
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


# ----------------------------------------------------------------------- BERT2BERT (minilm)
def _check_bert2bert(model) -> None:
    enc, dec = model.config.encoder, model.config.decoder
    ok = (enc.model_type == dec.model_type == "bert" and dec.is_decoder and dec.add_cross_attention
          and enc.hidden_act == dec.hidden_act == "gelu" and enc.hidden_size == dec.hidden_size
          and getattr(enc, "position_embedding_type", "absolute") == "absolute"
          and getattr(dec, "position_embedding_type", "absolute") == "absolute")
    if not ok:
        raise FsaError("the fast path converts BERT2BERT encoder-decoders (the minilm preset) only: "
                       f"this one is {enc.model_type}/{dec.model_type}; run without --fast")


def _layer_norm(spec, ln=None, size: int | None = None) -> None:
    import torch

    spec.gamma = ln.weight.detach().clone() if ln is not None else torch.ones(size)
    spec.beta = ln.bias.detach().clone() if ln is not None else torch.zeros(size)


def _linear(spec, weight, bias) -> None:
    spec.weight, spec.bias = weight.detach().clone(), bias.detach().clone()


def _embeddings(spec, emb) -> None:
    """BERT adds a token-type row (always type 0 here) to every position: fold it into the learned
    positions; CTranslate2 then adds positions and applies the embedding LayerNorm as BERT does."""
    words = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings  # encoder: a list
    words.weight = emb.word_embeddings.weight.detach().clone()
    spec.position_encodings.encodings = (emb.position_embeddings.weight + emb.token_type_embeddings.weight[0]).detach()
    spec.scale_embeddings = False
    _layer_norm(spec.layernorm_embedding, emb.LayerNorm)


def _attention(spec, att, cross: bool) -> None:
    import torch

    q, k, v = att.self.query, att.self.key, att.self.value
    if cross:  # CTranslate2: linear[0] = query, linear[1] = fused key+value of the encoder output
        _linear(spec.linear[0], q.weight, q.bias)
        _linear(spec.linear[1], torch.cat([k.weight, v.weight]), torch.cat([k.bias, v.bias]))
    else:
        _linear(spec.linear[0], torch.cat([q.weight, k.weight, v.weight]), torch.cat([q.bias, k.bias, v.bias]))
    _linear(spec.linear[-1], att.output.dense.weight, att.output.dense.bias)
    _layer_norm(spec.layer_norm, att.output.LayerNorm)


def _bert_layer(spec, layer, cross: bool) -> None:
    _attention(spec.self_attention, layer.attention, cross=False)
    if cross:
        _attention(spec.attention, layer.crossattention, cross=True)
    _linear(spec.ffn.linear_0, layer.intermediate.dense.weight, layer.intermediate.dense.bias)
    _linear(spec.ffn.linear_1, layer.output.dense.weight, layer.output.dense.bias)
    _layer_norm(spec.ffn.layer_norm, layer.output.LayerNorm)


def _head_layer(spec, last_ln, transform, hidden: int) -> None:
    """BERT's LM head runs dense -> gelu -> LayerNorm before the vocabulary projection; a
    post-norm Transformer has no such block, so it becomes one extra decoder layer:
      - the last real layer's output LayerNorm keeps only its normalisation (gamma 1, beta 0);
        its gamma/beta are folded into the head's dense: D(g*n + b) + d = (D diag g) n + (D b + d);
      - the extra layer's two attention blocks output zero, and their LayerNorms (gamma 1, beta 0)
        see the already normalised n, so they leave it as it is (up to the 1e-12 epsilon);
      - its feed-forward block computes n + W2 gelu(W1 n + b1) with W1 = [D'; I; -I], b1 = [d'; 0; 0]
        and W2 = [I, -I, I]: since gelu(z) - gelu(-z) = z, that is exactly gelu(D' n + d');
      - its output LayerNorm is the head's LayerNorm."""
    import torch

    eye, zeros = torch.eye(hidden), torch.zeros(hidden)

    def silent(lin, rows: int) -> None:
        _linear(lin, torch.zeros(rows * hidden, hidden), torch.zeros(rows * hidden))

    silent(spec.self_attention.linear[0], 3)                       # fused q, k, v
    silent(spec.attention.linear[0], 1)                            # cross: q
    silent(spec.attention.linear[1], 2)                            # cross: fused k, v
    for att in (spec.self_attention, spec.attention):
        silent(att.linear[-1], 1)                                  # output projection: zero
        _layer_norm(att.layer_norm, size=hidden)
    d_w, d_b = transform.dense.weight.detach(), transform.dense.bias.detach()
    g, b = last_ln.weight.detach(), last_ln.bias.detach()
    _linear(spec.ffn.linear_0, torch.cat([d_w * g, eye, -eye]), torch.cat([d_w @ b + d_b, zeros, zeros]))
    _linear(spec.ffn.linear_1, torch.cat([eye, -eye, eye], dim=1), zeros)
    _layer_norm(spec.ffn.layer_norm, transform.LayerNorm)


def bert2bert_spec(model, tokenizer):
    """CTranslate2 TransformerSpec of a BERT2BERT EncoderDecoderModel (post-norm layers, learned
    positions, embedding LayerNorm, erf GELU, BERT's 1e-12 LayerNorm epsilon)."""
    from ctranslate2.specs import common_spec, transformer_spec

    _check_bert2bert(model)
    enc, dec = model.encoder, model.decoder
    hidden = model.config.encoder.hidden_size
    n_enc, n_dec = len(enc.encoder.layer), len(dec.bert.encoder.layer)
    spec = transformer_spec.TransformerSpec.from_config(
        (n_enc, n_dec + 1), model.config.encoder.num_attention_heads, pre_norm=False,
        activation=common_spec.Activation.GELU, layernorm_embedding=True)
    _embeddings(spec.encoder, enc.embeddings)
    for layer_spec, layer in zip(spec.encoder.layer, enc.encoder.layer):
        _bert_layer(layer_spec, layer, cross=False)
    _embeddings(spec.decoder, dec.bert.embeddings)
    for layer_spec, layer in zip(spec.decoder.layer, dec.bert.encoder.layer):
        _bert_layer(layer_spec, layer, cross=True)
    last = dec.bert.encoder.layer[-1].output.LayerNorm
    _layer_norm(spec.decoder.layer[n_dec - 1].ffn.layer_norm, size=hidden)
    _head_layer(spec.decoder.layer[n_dec], last, dec.cls.predictions.transform, hidden)
    head = dec.cls.predictions
    _linear(spec.decoder.projection, head.decoder.weight, head.bias)

    tokens = [t for t, _ in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])]
    spec.register_source_vocabulary(tokens)
    spec.register_target_vocabulary(tokens)
    gen = model.generation_config
    spec.config.bos_token = tokenizer.convert_ids_to_tokens(gen.bos_token_id or tokenizer.cls_token_id)
    spec.config.eos_token = tokenizer.convert_ids_to_tokens(gen.eos_token_id)
    spec.config.unk_token = tokenizer.unk_token
    spec.config.decoder_start_token = tokenizer.convert_ids_to_tokens(gen.decoder_start_token_id)
    spec.config.layer_norm_epsilon = model.config.encoder.layer_norm_eps
    return spec


def save_bert2bert(model, tokenizer, out_dir: Path) -> None:
    spec = bert2bert_spec(model, tokenizer)
    spec.validate()
    spec.optimize(quantization=None)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    spec.save(str(out_dir))


class CT2Generator:
    """Same contract as `decoding.generate.generate`: texts in, decoded strings out, in order."""

    def __init__(self, model, tokenizer, source: str, device: str = "cpu", threads: int | None = None,
                 compute_type: str = "float32"):
        ctranslate2 = require_ctranslate2()
        import torch

        supported = ctranslate2.get_supported_compute_types(device)
        if compute_type not in supported:
            raise FsaError(f"compute type {compute_type}: not supported by CTranslate2 on {device} "
                           f"(supported: {', '.join(sorted(supported))})")
        self.tokenizer = tokenizer
        self.compute_type = compute_type
        path = convert(model, tokenizer, source)
        # Same thread count as torch, so the two paths are compared on equal terms.
        self.translator = ctranslate2.Translator(str(path), device=device, inter_threads=1, compute_type=compute_type,
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
        # min_decoding_length=0: CTranslate2 forbids the end token at the first step by default,
        # so a model that answers "" (no aspect) would be made to write something.
        results = self.translator.translate_batch(tokens, max_batch_size=batch_size, beam_size=num_beams,
                                                  max_decoding_length=max(1, max_length - 1),
                                                  min_decoding_length=0)
        out = []
        for r in results:
            out_ids = tok.convert_tokens_to_ids(r.hypotheses[0])
            out.append(from_model_text(tok.decode(out_ids, skip_special_tokens=True,
                                                  clean_up_tokenization_spaces=clean_up)))
        return out
