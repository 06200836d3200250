"""Sentences per second of three ways to run a model on benchmark sentences, in one run:

  naive    one sentence at a time through `model.generate` (what a first script does)
  batched  SentimentAnalyzer.predict: length-sorted batches (transformers)
  fast     SentimentAnalyzer.predict with fast=True (CTranslate2), if installed, in float32 (the
           same answers) and int8 (quantized when loaded: faster, some answers change)

All three decode greedily with the same max_length; the batched and fast outputs are compared
with the naive ones string by string and every difference is reported. Several `--model`s run
one after the other in one run (the machine load, `uptime`, is printed with each), e.g. the
`tiny` preset and a trained `minilm` student (CTranslate2 through the BERT2BERT conversion):

    python benchmarks/predict_speed.py [--model tiny] [--model runs/.../best_model] [--n 2000] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def benchmark_sentences(n: int) -> list[str]:
    """Test and hard-test sentences of rest14 and laptop14, interleaved so a prefix mixes domains."""
    from fsa_distill.benchmark.data import load_split

    pools = [[ex.sentence for split in ("test", "hard_test") for ex in load_split("atsa", ds, split)]
             for ds in ("rest14", "laptop14")]
    mixed = [s for pair in zip(*pools) for s in pair]
    if len(mixed) < n:
        raise SystemExit(f"only {len(mixed)} benchmark sentences available, asked for {n}")
    return mixed[:n]


def naive(sa, texts: list[str]) -> list[str]:
    import torch

    from fsa_distill.decoding.text import from_model_text, to_model_text

    out = []
    with torch.inference_mode():
        for t in texts:
            enc = sa.tokenizer(to_model_text(t), return_tensors="pt", truncation=True, max_length=sa.max_input_length)
            enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}  # BERT adds token types
            ids = sa.model.generate(**enc, max_length=sa.max_length, num_beams=1, do_sample=False)
            out.append(from_model_text(sa.tokenizer.decode(ids[0], skip_special_tokens=True,
                                                           clean_up_tokenization_spaces=sa.clean_up)))
    if sa.grounding:  # as predict does for students evaluated with span grounding (minilm)
        from fsa_distill.decoding.grounding import ground

        out = [ground(sa.task, g, t) for g, t in zip(out, texts)]
    return out


def timed(fn, texts):
    start = time.perf_counter()
    result = fn(texts)
    return result, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="model folder, hub id or preset (repeatable; default: tiny)")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--fast-batch-size", type=int, default=128,
                    help="a second fast row at this batch size (CTranslate2 sorts and pads little; default 128)")
    ap.add_argument("--naive-n", type=int, help="time the naive path on the first N sentences only "
                    "(it is by far the slowest; default: all)")
    ap.add_argument("--threads", type=int, help="CPU threads for torch and CTranslate2 alike (default: torch's)")
    ap.add_argument("--max-length", type=int, default=100, help="decoding budget, as in evaluation (default 100)")
    ap.add_argument("--compute-types", default="float32,int8",
                    help="CTranslate2 compute types to time (default float32,int8; int8 changes some answers, "
                         "counted in the == columns)")
    args = ap.parse_args()
    for model in args.model or ["tiny"]:
        run_model(model, args)
        print()


def run_model(model: str, args) -> None:
    import torch
    import transformers

    from fsa_distill.inference import SentimentAnalyzer
    from fsa_distill.models import count_parameters

    if args.threads:
        # On a machine shared with other jobs, 2 spinning OpenMP threads can be 100x slower than 1.
        torch.set_num_threads(args.threads)
    texts = benchmark_sentences(args.n)
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    sa = SentimentAnalyzer.from_pretrained(model, device="cpu")
    sa.max_length = args.max_length
    print(f"model {model}: {count_parameters(sa.model) / 1e6:.1f}M parameters; {len(texts)} sentences "
          f"(rest14+laptop14 test+hard_test); greedy, max_length {sa.max_length}")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}; torch {torch.__version__}, transformers {transformers.__version__}")

    # warm-up outside the clock (first calls allocate and pick kernels)
    naive(sa, texts[:4])
    sa.predict(texts[:8], batch_size=args.batch_size)

    rows = []
    naive_texts = texts[:args.naive_n] if args.naive_n else texts
    ref, secs = timed(lambda t: naive(sa, t), naive_texts)
    rows.append((f"naive one-at-a-time generate ({len(ref)} sent.)", secs, ref))
    out, secs = timed(lambda t: [r.generated for r in sa.predict(t, batch_size=args.batch_size)], texts)
    rows.append((f"batched, length-sorted (batch {args.batch_size})", secs, out))
    try:
        import ctranslate2
    except ImportError:
        ctranslate2 = None
        print('fast path skipped: pip install "fsa-distill[fast]"')
    for compute_type in (args.compute_types.split(",") if ctranslate2 is not None else []):
        start = time.perf_counter()
        fast = SentimentAnalyzer.from_pretrained(model, device="cpu", fast=True, compute_type=compute_type)
        print(f"CTranslate2 {ctranslate2.__version__} {compute_type}: conversion/loading "
              f"{time.perf_counter() - start:.1f} s (once per model, cached; not in the timing below)")
        fast.max_length = args.max_length
        fast.predict(texts[:8], batch_size=args.batch_size)
        for bs in dict.fromkeys([args.batch_size, args.fast_batch_size]):  # CTranslate2 gains from larger batches
            out, secs = timed(lambda t: [r.generated for r in fast.predict(t, batch_size=bs)], texts)
            rows.append((f"fast: CTranslate2 {compute_type} (batch {bs})", secs, out))

    batched = rows[1][2]
    lengths = [len(sa.tokenizer(g, add_special_tokens=False)["input_ids"]) for g in batched]
    print(f"generated tokens per sentence: mean {statistics.mean(lengths):.1f}, median {statistics.median(lengths)}, "
          f"{sum(n >= sa.max_length - 1 for n in lengths)} hit the budget")
    print(f"\n{'path':<46} {'seconds':>8} {'sent/s':>8} {'speed-up':>9} {'vs batched':>11} {'== naive':>10} "
          f"{'== batched':>11}")
    base, batched_rate = len(ref) / rows[0][1], len(batched) / rows[1][1]
    for name, secs, out in rows:
        rate = len(out) / secs
        print(f"{name:<46} {secs:>8.1f} {rate:>8.1f} {rate / base:>8.1f}x {rate / batched_rate:>10.1f}x "
              f"{_same(ref, out):>10} {_same(batched, out) if len(out) == len(batched) else '':>11}")
    for name, _, out in rows[1:]:
        for i in [i for i, (a, b) in enumerate(zip(batched, out)) if a != b][:5]:
            print(f"   {name}: differs from batched at {i}: {_short(batched[i])} vs {_short(out[i])}")
        for i in [i for i, (a, b) in enumerate(zip(ref, out)) if a != b][:5]:
            print(f"   {name}: differs from naive at {i}: {_short(ref[i])} vs {_short(out[i])}")


def _short(text: str, n: int = 70) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")


def _same(a: list[str], b: list[str]) -> str:
    n = min(len(a), len(b))
    return f"{sum(x == y for x, y in zip(a, b))}/{n}"


if __name__ == "__main__":
    main()
