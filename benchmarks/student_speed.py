"""Predict throughput of the two student families on the same texts, in one run, and the share of
this CPU's arithmetic peak each reaches.

    extractive   a trained `minilm-tagger` folder, batched through SentimentAnalyzer.predict
                 (one encoder pass per sentence; the strings are cut from its tags)
    generative   a trained `minilm` (BERT2BERT) folder: batched transformers generate, and the fast
                 path (CTranslate2) in float32 and int8

Useful work per text is counted from the models' shapes (FLOPs = 2 x multiply-adds): the encoder on
the text's own tokens (no padding), and for a generative student each generated token through the
decoder (self-attention over the tokens so far, cross-attention over the text, the LM head over the
vocabulary) with the encoder keys/values of the cross-attention computed once. Padding, beam bookkeeping
and softmaxes are not useful work and are not counted, so the share of peak says how much of the
machine each path turns into model arithmetic. Peak is given two ways: a float32 matrix product of
2048 x 2048 measured here with the same threads (what a well-tuned kernel gets), and the nominal
cores x reported clock x FLOPs per cycle (32 with AVX2 FMA, 64 with AVX-512 on two FMA units; a
boost clock above the reported one can put the measured GEMM over it, SMT siblings sharing a core's
units can put it far under). int8 paths are
compared with the float32 peak (their arithmetic is integer; the share says what they deliver, not
how close to the int8 peak they are).

    python benchmarks/student_speed.py --extractive runs/.../best_model --generative runs/.../best_model \\
        [--n 1000] [--batch-size 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_speed import benchmark_sentences  # noqa: E402  (the same texts as the generative speed table)


def stack_shape(config) -> dict:
    """hidden, intermediate and layer count of a BERT-like stack's config."""
    return {"h": config.hidden_size, "i": config.intermediate_size, "layers": config.num_hidden_layers}


def encoder_flops(shape: dict, n_tokens: int) -> float:
    """Per layer: Q, K, V, O projections (4 h^2) and the FFN (2 h i) per token, and the attention
    scores and the weighted sum (2 L h each) per token."""
    h, i, L = shape["h"], shape["i"], n_tokens
    return 2 * shape["layers"] * (L * (4 * h * h + 2 * h * i) + 2 * L * L * h)


def decoder_flops(shape: dict, vocab: int, n_source: int, n_generated: int) -> float:
    """Per generated token and layer: self-attention projections (4 h^2) and scores over the tokens
    so far, cross-attention Q and O (2 h^2) and scores over the source, FFN (2 h i); the cross K, V of
    the source once per layer (2 h^2 per source token); the LM head (transform h^2 + h x vocab)."""
    h, i, S, T = shape["h"], shape["i"], n_source, n_generated
    per_layer = T * (6 * h * h + 2 * h * i) + 2 * S * h * h + 2 * h * (T * (T + 1) // 2) + 2 * T * S * h
    return 2 * (shape["layers"] * per_layer + T * (h * h + h * vocab))


def gemm_peak(threads: int, n: int = 2048, repeat: int = 5) -> float:
    """GFLOP/s of the best of `repeat` float32 n x n matrix products (torch, `threads` threads)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def nominal_peak(threads: int) -> tuple[float, str]:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(line.split(":")[1]) for line in flags.splitlines() if line.startswith("cpu MHz")]
    per_cycle = 64 if " avx512f" in flags else 32 if " fma" in flags else 16
    ghz = (max(mhz) if mhz else 0) / 1000
    return threads * ghz * per_cycle, f"{threads} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle"


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extractive", required=True, help="a trained extractive (tagger) model folder")
    ap.add_argument("--generative", required=True, help="a trained generative model folder")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--output", help="also write the table here (.md)")
    args = ap.parse_args()

    import torch
    import transformers

    from fsa_distill.inference import SentimentAnalyzer

    torch.set_num_threads(args.threads)
    texts = benchmark_sentences(args.n)
    lines = [f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}",
             f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, threads "
             f"{args.threads}; torch {torch.__version__}, transformers {transformers.__version__}",
             f"{len(texts)} sentences (rest14+laptop14 test+hard_test), batch {args.batch_size}"]
    measured = gemm_peak(args.threads)
    nominal, how = nominal_peak(args.threads)
    lines.append(f"peak: measured float32 GEMM 2048^3 {measured:.1f} GFLOP/s; nominal {nominal:.1f} GFLOP/s ({how})")

    ext = SentimentAnalyzer.from_pretrained(args.extractive, device="cpu")
    gen = SentimentAnalyzer.from_pretrained(args.generative, device="cpu")
    tok = ext.tokenizer
    src_tokens = [len(tok(t)["input_ids"]) for t in texts]  # with [CLS]/[SEP], as the encoder sees them
    enc_cfg = ext.model.encoder.config
    ext_flops = sum(encoder_flops(stack_shape(enc_cfg), n) for n in src_tokens)

    g_cfg = gen.model.config
    gen_src_tokens = [len(gen.tokenizer(t)["input_ids"]) for t in texts]

    paths = [("extractive minilm-tagger, batched (torch)", ext)]
    paths.append(("generative minilm, batched generate (torch)", gen))
    try:
        import ctranslate2  # noqa: F401
        for ct in ("float32", "int8"):
            paths.append((f"generative minilm, fast: CTranslate2 {ct}",
                          SentimentAnalyzer.from_pretrained(args.generative, device="cpu", fast=True,
                                                            compute_type=ct)))
    except ImportError:
        lines.append('fast path skipped: pip install "fsa-distill[fast]"')

    rows, answers = [], {}
    for name, sa in paths:
        sa.predict(texts[:16], batch_size=args.batch_size)  # warm-up: allocation, kernel choice
        start = time.perf_counter()
        out = [r.generated for r in sa.predict(texts, batch_size=args.batch_size)]
        secs = time.perf_counter() - start
        answers[name] = out
        if sa is ext:
            flops = ext_flops
        else:  # the same encoder work on every generative path; the decoder's follows its answers
            generated = [len(gen.tokenizer(o, add_special_tokens=False)["input_ids"]) + 1 for o in out]  # + end
            flops = sum(encoder_flops(stack_shape(g_cfg.encoder), s) +
                        decoder_flops(stack_shape(g_cfg.decoder), g_cfg.decoder.vocab_size, s, t)
                        for s, t in zip(gen_src_tokens, generated))
        rows.append((name, secs, len(texts) / secs, flops / len(texts), flops / secs / 1e9))
    lines.append(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    base = rows[1][2]
    lines += ["", "| path | seconds | sentences/s | vs generative batched | MFLOP per text | GFLOP/s | "
              "% of measured peak | % of nominal peak |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, secs, rate, per_text, gflops in rows:
        lines.append(f"| {name} | {secs:.1f} | {rate:.1f} | {rate / base:.1f}x | {per_text / 1e6:.1f} | "
                     f"{gflops:.1f} | {100 * gflops / measured:.1f} | {100 * gflops / nominal:.1f} |")
    ref = answers[rows[1][0]]
    for name, out in answers.items():
        if name != rows[1][0] and "generative" in name:
            lines.append(f"{name}: {sum(a == b for a, b in zip(ref, out))}/{len(ref)} answers equal to batched generate")
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
