"""Fault tolerance against a fault-injecting OpenAI-compatible server on 127.0.0.1."""

import os
import random
import signal
import subprocess
import time
from collections import Counter

from teacher_helpers import cli_cmd, read_corpus, write_config

from fsa_distill.teacher.config import GenerateConfig
from fsa_distill.teacher.generate import generate_corpus
from fsa_distill.teacher.loopback import FAULTS


def test_500_reviews_with_30_percent_failing_requests(tmp_path, loopback, reviews_500):
    srv = loopback(fail_rate=0.3, faults=FAULTS, hang_s=3.0)
    cfg = GenerateConfig(
        output_dir=str(tmp_path / "run"), kinds=["analysis"],
        reviews={"path": str(reviews_500), "id_field": "ID", "leak_guard": {"enabled": False}},
        backend={"type": "openai", "base_url": srv.base_url, "model": "loopback", "timeout_s": 1.0,
                 "backoff_base_s": 0.05, "backoff_max_s": 0.5, "max_retries": 4},
        generation={"concurrency": 32, "max_tokens": 200})
    t = time.perf_counter()
    summary = generate_corpus(cfg, progress=False)
    assert time.perf_counter() - t < 90
    injected = srv.state.injected
    assert set(injected) == set(FAULTS) and 120 <= sum(injected.values()) <= 180  # ~30% of 500
    recs = read_corpus(tmp_path / "run" / "corpus.jsonl")
    assert len(recs) == 500 and len({r["review_id"] for r in recs}) == 500
    assert all(r["ok"] and r["parsed"] for r in recs), Counter(f for r in recs for f in r["flags"])
    assert summary["run"]["retries"] == sum(injected.values())
    assert summary["corpus_totals"]["per_kind"] == {"analysis": {"records": 500, "ok": 500, "dropped": 0}}


def test_sigkill_five_times_then_resume(tmp_path, loopback, reviews_500):
    srv = loopback(latency_s=0.05, fail_rate=0.2, faults=("429", "500", "cutoff", "malformed"))
    out = tmp_path / "run"
    corpus = out / "corpus.jsonl"
    cfg = write_config(tmp_path / "gen.yaml", {
        "output_dir": str(out), "kinds": ["analysis", "rewrite"],
        "reviews": {"path": str(reviews_500), "id_field": "ID", "leak_guard": {"enabled": False},
                    "sample": {"n": 150, "seed": 3}},
        "backend": {"type": "openai", "base_url": srv.base_url, "model": "loopback", "timeout_s": 2.0,
                    "backoff_base_s": 0.02, "max_retries": 6},
        "generation": {"concurrency": 3, "max_tokens": 300}})
    rng = random.Random(20241224)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for attempt in range(8):  # 5 kills needed; a run that finishes early does not count
        if kills == 5:
            break
        before = corpus.stat().st_size if corpus.exists() else 0
        proc = subprocess.Popen(cli_cmd("generate", str(cfg), "--no-progress", "--json"), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            # wait until this run has committed something, then kill it at a random moment
            while time.monotonic() < deadline and proc.poll() is None:
                if corpus.exists() and corpus.stat().st_size > before:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert kills == 5
    partial = corpus.read_bytes()
    assert 0 < partial.count(b"\n") < 300  # the kills left work to do
    final = subprocess.run(cli_cmd("generate", str(cfg), "--no-progress", "--json"), env=env,
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    recs = read_corpus(corpus)
    pairs = Counter((r["review_id"], r["kind"]) for r in recs)
    assert len(pairs) == 300 and set(pairs.values()) == {1}
    assert len({r["key"] for r in recs}) == 300
    assert corpus.read_bytes().endswith(b"\n")
