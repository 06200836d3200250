"""Helpers for the serving tests: a fake analyzer, in-process uvicorn on loopback, the `fsa-distill
serve` command as a subprocess. Every server binds 127.0.0.1 on a free port and is stopped by its
test; every wait is bounded. (A module of its own: `conftest` is ambiguous across test folders.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from fsa_distill.inference import to_result

REPO = Path(__file__).resolve().parents[2]

# What the fake model "generates" for a few sentences: repeats, an absent term and two polarities,
# so the cleaning and the page's highlighting are exercised without a trained model.
CANNED = {
    "The pasta was great but the waiter was rude.": "pasta | positive ; waiter | negative ; waiter | negative",
    "The battery life is amazing, though the keyboard feels cheap.":
        "battery life | positive ; keyboard | negative ; wait | negative",
}


class FakeAnalyzer:
    """SentimentAnalyzer's serving surface: predict(list) -> results, task, meta. Records calls."""

    def __init__(self, task: str = "atsa", delay: float = 0.0):
        self.task, self.delay = task, delay
        self.meta = {"kind": "finetuned", "task": task, "dataset": "rest14", "seed": 42, "base_model": "fake",
                     "scores": {"normal": {"precision": 0.5, "recall": 0.4, "f1": 0.444}}}
        self.calls: list[list[str]] = []

    def predict(self, texts, batch_size: int = 32):
        self.calls.append(list(texts))
        if self.delay:
            time.sleep(self.delay)
        return [to_result(self.task, t, self.generate_one(t)) for t in texts]

    def generate_one(self, text: str) -> str:
        if text in CANNED:
            return CANNED[text]
        if self.task == "acsa":
            return "food quality | positive ; service general | negative"
        first = text.split()[0] if text.split() else ""
        return f"{first} | neutral" if first else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, timeout: float = 120.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} not healthy within {timeout} s")


class InProcessServer:
    """uvicorn in a thread (no signal handlers there), stopped through should_exit."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "in-process server did not start within 30 s"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_serve(args: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """`fsa-distill serve ARGS` as a subprocess with this tree on PYTHONPATH."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", **(env or {})}
    out = open(log, "wb") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "fsa_distill.cli", "serve", *args], env=full_env,
                            stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def serve_once(args: list[str], texts: list[str], log: Path | None = None) -> tuple[httpx.Response, dict]:
    """Start `fsa-distill serve ARGS` on a free loopback port, POST `texts` once, read /v1/model,
    stop the server: (the predict response, the model info)."""
    port = free_port()
    proc = start_serve([*args, "--port", str(port)], log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc=proc)
        r = httpx.post(base + "/v1/predict", json={"texts": texts}, timeout=60)
        info = httpx.get(base + "/v1/model", timeout=10).json()
    finally:
        stop(proc)
    return r, info
