"""Batched greedy (or beam) generation for any seq2seq student.

The reference generates in file order, batch 64, padded to the batch's longest input. We sort
inputs by token length first so that each batch pads little and, since output length follows
input length, finishes its decoding loop together; results come back in the caller's order.
"""

from __future__ import annotations

from typing import Sequence

from fsa_distill.student.models import from_model_text, to_model_text


def decode_cleanup(tokenizer, override: bool | None = None) -> bool:
    """Whether to apply `clean_up_tokenization_spaces` when decoding. The reference (T5's
    sentencepiece tokenizer in transformers 4.36) did; our byte-level presets must not."""
    if override is not None:
        return override
    return bool(tokenizer.init_kwargs.get("clean_up_tokenization_spaces", True))


def generate(model, tokenizer, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 100,
             num_beams: int = 1, sort_by_length: bool = True, clean_up: bool | None = None,
             max_input_length: int | None = None, progress: bool = True, desc: str = "generate") -> list[str]:
    import torch
    from tqdm.auto import tqdm

    inputs = [to_model_text(t) for t in texts]
    order = list(range(len(inputs)))
    if sort_by_length:
        lengths = [len(ids) for ids in tokenizer(inputs, add_special_tokens=True)["input_ids"]]
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
                enc = tokenizer([inputs[i] for i in idx], padding=True, return_tensors="pt",
                                truncation=max_input_length is not None, max_length=max_input_length)
                enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                out = model.generate(**enc, max_length=max_length, num_beams=num_beams, do_sample=False,
                                     num_return_sequences=1)
                decoded = tokenizer.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=cleanup)
                for i, text in zip(idx, decoded):
                    outputs[i] = from_model_text(text)
                bar.update(len(idx))
    finally:
        model.train(was_training)
    return outputs  # type: ignore[return-value]
