"""Batched greedy (or beam) generation for any seq2seq student, and the decode settings.

The reference generates in file order, batch 64, padded to the batch's longest input. We sort
inputs by token length first so that each batch pads little and, since output length follows
input length, finishes its decoding loop together; results come back in the caller's order.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import Field

from fsa_distill.config import StrictConfig
from fsa_distill.decoding.text import from_model_text, to_model_text


class DecodeSettings(StrictConfig):
    max_length: int = Field(100, gt=0, description="reference: greedy, max_length 100")
    num_beams: int = Field(1, ge=1)
    batch_size: int = Field(64, gt=0)
    sort_by_length: bool = True
    clean_up_tokenization_spaces: bool | None = None  # None: the tokenizer's own setting
    grounding: bool = False  # map generated terms back to the sentence's exact characters


def decode_cleanup(tokenizer, override: bool | None = None) -> bool:
    """Whether to apply `clean_up_tokenization_spaces` when decoding. The reference (T5's
    sentencepiece tokenizer in transformers 4.36) did; our byte-level presets must not."""
    if override is not None:
        return override
    return bool(tokenizer.init_kwargs.get("clean_up_tokenization_spaces", True))


def _decoder_start(model, tokenizer, prefix: str, n: int, device):
    """Decoder input ids that force every output to begin with `prefix`."""
    import torch

    start_id = model.config.decoder_start_token_id
    if start_id is None:
        from fsa_distill.errors import FsaError

        raise FsaError("the model's config has no decoder_start_token_id: cannot force a decoder prefix")
    ids = tokenizer(to_model_text(prefix), add_special_tokens=False)["input_ids"]
    return torch.tensor([[start_id] + ids] * n, device=device)


def generate(model, tokenizer, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 100,
             num_beams: int = 1, sort_by_length: bool = True, clean_up: bool | None = None,
             max_input_length: int | None = None, decoder_prefix: str = "", progress: bool = True,
             desc: str = "generate") -> list[str]:
    """The decoded string for each text, in order. `max_input_length` truncates inputs;
    `decoder_prefix` forces the start of every output (returned with the prefix)."""
    import torch
    from tqdm.auto import tqdm

    inputs = [to_model_text(t) for t in texts]
    order = list(range(len(inputs)))
    truncate = dict(truncation=max_input_length is not None, max_length=max_input_length)
    if sort_by_length:
        lengths = [len(ids) for ids in tokenizer(inputs, add_special_tokens=True, **truncate)["input_ids"]]
        order.sort(key=lambda i: -lengths[i])  # longest first: memory problems show up at once
    cleanup = decode_cleanup(tokenizer, clean_up)
    device = next(model.parameters()).device
    outputs: list[str | None] = [None] * len(inputs)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), tqdm(total=len(inputs), desc=desc, disable=not progress, unit="sent") as bar:
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                enc = tokenizer([inputs[i] for i in idx], padding=True, return_tensors="pt", **truncate)
                enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                if decoder_prefix:
                    enc["decoder_input_ids"] = _decoder_start(model, tokenizer, decoder_prefix, len(idx), device)
                out = model.generate(**enc, max_length=max_length, num_beams=num_beams, do_sample=False,
                                     num_return_sequences=1)
                decoded = tokenizer.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=cleanup)
                for i, text in zip(idx, decoded):
                    outputs[i] = from_model_text(text)
                bar.update(len(idx))
    finally:
        model.train(was_training)
    return outputs  # type: ignore[return-value]


def decode_sentences(model, tokenizer, sentences: list[str], settings: DecodeSettings, progress: bool = True,
                     desc: str = "generate", fast=None, max_input_length: int | None = None) -> list[str]:
    """The raw generated strings under `settings` (grounding is the caller's: it needs the
    sentence, not the model's input). `fast`: a CTranslate2 generator (inference.fast.CT2Generator)
    to generate with instead; `max_input_length`: longer inputs are truncated. The one decoding
    path of generative students: inference.student.GenerativeStudent calls it."""
    if fast is not None:
        return fast.generate(sentences, batch_size=settings.batch_size, max_length=settings.max_length,
                             num_beams=settings.num_beams, max_input_length=max_input_length,
                             clean_up=decode_cleanup(tokenizer, settings.clean_up_tokenization_spaces))
    return generate(model, tokenizer, sentences, batch_size=settings.batch_size, max_length=settings.max_length,
                    num_beams=settings.num_beams, sort_by_length=settings.sort_by_length,
                    clean_up=settings.clean_up_tokenization_spaces, max_input_length=max_input_length,
                    progress=progress, desc=desc)
