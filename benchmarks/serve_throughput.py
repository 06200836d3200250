"""Texts per second of `fsa-distill serve` under 1, 8 and 32 concurrent clients, in one run:
batching on (--max-batch 32) against batching off (--max-batch 1), for each model, with and
without --fast. Each client sends one text per request, the next as soon as the last is answered.

Every answer is checked against the first configuration's answer for the same text (batching and
the fast path must not change results). The machine load (`uptime`) is printed before and after,
and ratios are taken within this one run, so a busy machine shifts them less than absolute rates.

    python benchmarks/serve_throughput.py --model tiny=tiny --model minilm=runs/.../best_model
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def benchmark_sentences(n: int) -> list[str]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from predict_speed import benchmark_sentences as sentences

    return sentences(n)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Server:
    def __init__(self, model: str, port: int, max_batch: int, path: str, max_wait_ms: float):
        """`path`: hf, fast (CTranslate2 float32) or fast-<compute type> (e.g. fast-int8)."""
        self.base = f"http://127.0.0.1:{port}"
        fast = [] if path == "hf" else ["--fast"] + (["--compute-type", path[5:]] if path.startswith("fast-") else [])
        cmd = [sys.executable, "-m", "fsa_distill.cli", "serve", "-m", model, "--port", str(port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms)] + fast
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self):
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("server not healthy within 300 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def load(base: str, texts: list[str], clients: int) -> tuple[float, dict[str, list]]:
    """Send `texts` one per request from `clients` concurrent clients; (seconds, text -> aspects)."""
    queue = list(enumerate(texts))
    answers: dict[int, list] = {}

    async def client(http: httpx.AsyncClient):
        while queue:
            i, text = queue.pop()
            r = await http.post(base + "/v1/predict", json={"text": text})
            r.raise_for_status()
            res = r.json()["results"][0]
            answers[i] = [res["generated"], res["aspects"]]

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await http.post(base + "/v1/predict", json={"texts": texts[:4]})  # warm-up outside the clock
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        secs = time.perf_counter() - start
    return secs, {texts[i]: a for i, a in answers.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", metavar="NAME=SPEC",
                    help="a model to serve (repeatable; default: tiny=tiny minilm=minilm)")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--requests", type=int, default=8, help="requests per client at each level (min 32 in all)")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--paths", default="hf,fast", help="comma-separated: hf, fast (CTranslate2 float32), "
                    "fast-int8 (quantized: answers compared with the first path's); default hf,fast")
    ap.add_argument("--port", type=int, default=8731)
    args = ap.parse_args()
    models = [m.split("=", 1) for m in (args.model or ["tiny=tiny", "minilm=minilm"])]
    levels = [int(c) for c in args.clients.split(",")]
    n_total = max(max(levels) * args.requests, 32)
    pool = benchmark_sentences(n_total)
    print(f"load before: {uptime()}")
    print(f"{n_total} distinct rest14/laptop14 test sentences; one text per request; "
          f"batching on = --max-batch {args.max_batch} --max-wait-ms {args.max_wait_ms:g}, off = --max-batch 1")
    rows = []
    for name, spec in models:
        reference: dict[str, list] = {}
        for path in args.paths.split(","):
            for max_batch in (args.max_batch, 1):
                with Server(spec, args.port, max_batch, path, args.max_wait_ms) as srv:
                    for clients in levels:
                        texts = pool[:max(clients * args.requests, 32)]
                        secs, answers = asyncio.run(load(srv.base, texts, clients))
                        same = sum(reference.setdefault(t, a) == a for t, a in answers.items())
                        rows.append((name, path, max_batch, clients, len(texts), secs, same))
                        print(f"  {name:<8} {path:<9} max-batch {max_batch:<3} {clients:>3} clients: "
                              f"{len(texts) / secs:8.1f} texts/s  (same answers {same}/{len(texts)})", flush=True)
                args.port += 1
    print(f"load after: {uptime()}\n")
    print(f"{'model':<8} {'path':<9} {'clients':>7} {'batched t/s':>12} {'unbatched t/s':>14} {'ratio':>7} {'== ref':>9}")
    for name, path, max_batch, clients, n, secs, same in rows:
        if max_batch == 1:
            continue
        off = next(r for r in rows if r[:2] == (name, path) and r[2] == 1 and r[3] == clients)
        on_rate, off_rate = n / secs, off[4] / off[5]
        print(f"{name:<8} {path:<9} {clients:>7} {on_rate:>12.1f} {off_rate:>14.1f} {on_rate / off_rate:>6.1f}x "
              f"{min(same, off[6])}/{n}")


if __name__ == "__main__":
    main()
