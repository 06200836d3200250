"""Servers for the serving tests: in-process uvicorn on loopback (fake or real analyzer) and the
`fsa-distill serve` command as a subprocess. Every server binds 127.0.0.1 on a free port and is
stopped at the end of its test; every wait is bounded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for test_inference.make_tiny_model

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from fsa_distill.inference import to_result  # noqa: E402

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


@pytest.fixture
def serve_app():
    """serve_app(analyzer=None, api_key=None, **config) -> a running InProcessServer."""
    from fsa_distill.serving.app import ServeConfig, create_app

    started = []

    def make(analyzer=None, api_key=None, wait=True, loader=None, **cfg):
        analyzer = analyzer or FakeAnalyzer()
        app = create_app(ServeConfig(model="fake-model", **cfg), api_key=api_key,
                         loader=loader or (lambda c: analyzer))
        srv = InProcessServer(app).__enter__()
        started.append(srv)
        if wait:
            wait_healthy(srv.base, timeout=30)
        srv.analyzer, srv.app = analyzer, app
        return srv

    yield make
    for srv in started:
        srv.__exit__()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from test_inference import make_tiny_model

    return make_tiny_model(tmp_path_factory.getbasetemp())


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
