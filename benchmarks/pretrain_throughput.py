"""Pretraining throughput: length-grouped batches vs the reference's collator, same model and data.

Tokens of real target text (labels that are not padding) per second of training (forward, backward,
clip, optimizer step), over one epoch of the shipped 500 recorded teacher answers (128/400 token
caps), for two identical copies of the student:

  grouped    our LengthGroupedSampler + collator padding to the batch's longest
  reference  shuffled batches, padded to max length (128/400) then trimmed to the batch's longest
             (docs/reference.md §4c; DataLoader shuffle=True)

The two arms alternate batch by batch, so a change in machine load hits both alike.

    python benchmarks/pretrain_throughput.py [--model tiny] [--batch-size 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared machine)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from fsa_distill.models import load_student
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.student.optim import build_optimizer
    from fsa_distill.student.pretrain_data import read_records, tokenize_pairs
    from fsa_distill.student.sampler import (
        LengthGroupedSampler,
        Seq2SeqCollator,
        padding_stats,
        shuffled_batches,
    )

    model, tok = load_student(args.model)
    ds = tokenize_pairs(read_records([teacher_sample_path()]), tok, 128, 400)
    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in ds]
    src, tgt = ds["source_length"], ds["target_length"]
    arms = {
        "grouped": (LengthGroupedSampler(tgt, src, batch_size=args.batch_size, seed=args.seed).batches(0),
                    Seq2SeqCollator(tok.pad_token_id)),
        "reference": (shuffled_batches(len(rows), args.batch_size, args.seed),
                      Seq2SeqCollator(tok.pad_token_id, pad_to=(128, 400))),
    }
    state = {}
    for name in arms:
        m = copy.deepcopy(model).train()
        state[name] = {"model": m, "opt": build_optimizer(m, "adamw_scale", 3e-3), "seconds": 0.0, "tokens": 0}

    def step(name, batch_ids):
        s = state[name]
        t0 = time.perf_counter()
        batch = arms[name][1]([rows[i] for i in batch_ids])
        loss = s["model"](**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(s["model"].parameters(), 1.0)
        s["opt"].step()
        s["opt"].zero_grad(set_to_none=True)
        s["seconds"] += time.perf_counter() - t0
        s["tokens"] += int((batch["labels"] != -100).sum())

    n = max(len(b) for b, _ in arms.values())
    for i in range(n):
        for name, (batches, _) in arms.items():
            if i < len(batches):
                step(name, batches[i])

    result = {"model": args.model, "pairs": len(rows), "batch_size": args.batch_size, "threads": args.threads}
    for name, (batches, _) in arms.items():
        s = state[name]
        assert s["tokens"] == sum(tgt), "both arms must see every target token once"
        pad = padding_stats(batches, src, tgt)
        result[name] = {"target_tokens_per_s": round(s["tokens"] / s["seconds"], 1),
                        "seconds": round(s["seconds"], 2), **pad.as_dict()}
    result["speedup"] = round(result["grouped"]["target_tokens_per_s"] / result["reference"]["target_tokens_per_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
