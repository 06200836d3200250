"""The `tiny` preset: a ~1.4M-parameter T5 with a byte-level BPE tokenizer trained on the shipped
data, built offline in seconds. For tests and quick demos; it learns little."""

from __future__ import annotations

import json
from pathlib import Path

from fsa_distill.decoding.text import NL_TOKEN
from fsa_distill.models.folder import save_student


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
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
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
