"""Evaluation speed: the reference's way vs ours, on rest14 `normal`, in one run.

Reference (docs/reference.md §1b): batches of 64 in file order, padded to the batch's longest,
`model.generate(max_length=100, num_beams=1)`, decode with skip_special_tokens.
Ours (`fsa_distill.decoding.generate`): the same greedy decoding, inputs sorted by length so a
batch pads little and its sequences finish together, larger batches, inference mode.

Prints how many predictions differ (expected: none), that F1 is equal to two decimals, and the
speed ratio. Usage:

    python benchmarks/eval_speed.py                     # fine-tunes the tiny preset briefly first
    python benchmarks/eval_speed.py --model runs/.../best_model
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def reference_generate(model, tokenizer, sentences, batch_size=64, max_length=100):
    import torch

    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(sentences), batch_size):
            enc = tokenizer(sentences[i:i + batch_size], padding=True, return_tensors="pt")
            ids = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                 max_length=max_length, num_beams=1, num_return_sequences=1)
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return out


def trained_tiny(workdir: str) -> str:
    """A tiny student fine-tuned for a few epochs, so outputs vary in length as real ones do."""
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(model="tiny", output_dir=f"{workdir}/run", test_limit=1,
                         train={"epochs": 4, "dev_limit": 64, "learning_rate": 1e-3})
    finetune(cfg, progress=False)
    return f"{workdir}/run/best_model"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a fine-tuned model folder (default: train the tiny preset briefly)")
    ap.add_argument("--batch-size", type=int, default=128, help="our batch size (the reference uses 64)")
    args = ap.parse_args()

    from fsa_distill.benchmark.scoring import score
    from fsa_distill.benchmark.views import load_view
    from fsa_distill.decoding.generate import generate
    from fsa_distill.models import load_student

    model_path = args.model or trained_tiny(tempfile.mkdtemp(prefix="eval-speed-"))
    model, tok = load_student(model_path)
    examples = load_view("atsa", "rest14", "normal")
    sentences = [e.sentence for e in examples]
    # The same decode settings on both sides, so only batching differs.
    cleanup = tok.init_kwargs.get("clean_up_tokenization_spaces", True)

    reference_generate(model, tok, sentences[:64])  # warm-up, not timed
    t0 = time.perf_counter()
    ref = reference_generate(model, tok, sentences)
    ref = [tok.clean_up_tokenization(r) if cleanup else r for r in ref]
    t_ref = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = generate(model, tok, sentences, batch_size=args.batch_size, progress=False)
    t_ours = time.perf_counter() - t0

    diff = [(e.id, r, o) for e, r, o in zip(examples, ref, ours) if r != o]
    f_ref = score("atsa", examples, ref, bootstrap=0)["f1"]
    f_ours = score("atsa", examples, ours, bootstrap=0)["f1"]
    print(f"model: {model_path}")
    print(f"sentences: {len(sentences)} (atsa/rest14 normal = test + hard_test)")
    print(f"reference way: {t_ref:7.2f} s  ({len(sentences) / t_ref:6.1f} sent/s)  F1 {100 * f_ref:.2f}")
    print(f"our way:       {t_ours:7.2f} s  ({len(sentences) / t_ours:6.1f} sent/s)  F1 {100 * f_ours:.2f}")
    print(f"predictions that differ: {len(diff)}")
    for i, r, o in diff[:5]:
        print(f"  {i}: reference {r!r} vs ours {o!r}")
    print(f"F1 equal to two decimals: {round(100 * f_ref, 2) == round(100 * f_ours, 2)}")
    print(f"speed-up: {t_ref / t_ours:.2f}x")


if __name__ == "__main__":
    main()
