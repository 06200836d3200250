"""A bounded loopback load test of `fsa-distill serve` with the tiny model: 2,000 requests from
32 concurrent clients, 5% of them malformed (among them lone surrogates, 5,000-digit integers and
3,000-deep nesting, issue 24). Every good request gets the right answer, every bad one a 4xx with
a JSON error, the server is healthy afterwards and its memory flat.

    pytest -m slow tests/serving/test_load.py -s      # prints the figures
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx
import pytest
from serving_helpers import free_port, start_serve, stop, wait_healthy

REQUESTS, CLIENTS, BAD_SHARE = 2000, 32, 0.05
BAD_BODIES = [b'{"texts": ["unterminated"', b'{"text": "caf\xe9"}', b'{"texts": []}', b'{"texts": [1, 2]}',
              b'{"txt": "x"}', b'[]', b'{"texts": ["a", "b", "c", "d", "e"]}', b'{"text": "' + b"x" * 600 + b'"}',
              # issue 24: each was a 500, and a surrogate failed the good requests batched with it
              b'{"text": "good \\ud800 food"}', b'{"texts": ["The food was good.", "bad \\udc00 tail"]}',
              b'{"texts": ' + b"1" * 5000 + b'}', b'{"texts": [' + b"[" * 3000 + b"]" * 3000 + b"]}"]
NEW_KINDS = BAD_BODIES[8:]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for the memory figure")
def test_2000_requests_32_clients_5_percent_malformed(tiny_dir, tmp_path):
    from fsa_distill.benchmark.data import load_split

    pool = [ex.sentence for ex in load_split("atsa", "rest14", "test")[:50]]
    rng = random.Random(0)
    plan = [("bad", rng.choice(BAD_BODIES)) if rng.random() < BAD_SHARE else ("good", rng.choice(pool))
            for _ in range(REQUESTS)]
    port = free_port()
    proc = start_serve(["-m", str(tiny_dir), "--port", str(port), "--max-texts", "4", "--max-text-chars", "500"],
                       log=tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc=proc)
        with httpx.Client(timeout=60) as http:  # the expected answers, one request each
            expected = {t: http.post(base + "/v1/predict", json={"text": t}).json()["results"][0] for t in pool}
        stats = asyncio.run(asyncio.wait_for(_load(base, plan, expected, proc.pid), 900))
        health = httpx.get(base + "/health", timeout=10)
    finally:
        stop(proc)
    print(f"\n{REQUESTS} requests, {CLIENTS} clients: {stats['good']} good, {stats['bad']} malformed, "
          f"{stats['secs']:.1f} s ({REQUESTS / stats['secs']:.0f} req/s); server RSS {stats['rss'][0]:.0f} MB "
          f"after 10%, {stats['rss'][1]:.0f} MB after 50%, {stats['rss'][2]:.0f} MB at the end")
    assert stats["wrong"] == [] and stats["bad_not_4xx"] == []
    assert stats["good"] + stats["bad"] == REQUESTS and stats["bad"] >= 50
    assert all(stats["sent"].get(body, 0) >= 3 for body in NEW_KINDS), "a new bad kind was hardly sent"
    assert health.status_code == 200
    assert stats["rss"][2] - stats["rss"][1] < 32, "server memory grew in the second half of the run"


async def _load(base: str, plan, expected, pid: int) -> dict:
    todo = list(enumerate(plan))
    stats = {"good": 0, "bad": 0, "wrong": [], "bad_not_4xx": [], "rss": [], "sent": {}}
    marks = {REQUESTS // 10, REQUESTS // 2}
    done = 0

    async def client(http):
        nonlocal done
        while todo:
            i, (kind, payload) = todo.pop(0)
            if kind == "good":
                r = await http.post(base + "/v1/predict", json={"texts": [payload]})
                if r.status_code != 200 or r.json()["results"][0] != expected[payload]:
                    stats["wrong"].append((i, r.status_code))
                stats["good"] += 1
            else:
                r = await http.post(base + "/v1/predict", content=payload,
                                    headers={"Content-Type": "application/json"})
                if not (400 <= r.status_code < 500 and "error" in r.json()):
                    stats["bad_not_4xx"].append((i, r.status_code))
                stats["bad"] += 1
                stats["sent"][payload] = stats["sent"].get(payload, 0) + 1
            done += 1
            if done in marks:
                stats["rss"].append(rss_mb(pid))

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        stats["secs"] = time.perf_counter() - start
    stats["rss"].append(rss_mb(pid))
    return stats
