"""`fsa-distill serve` as a user runs it: option checks (fast, no model), and as a real process
with the tiny model (slow): the API round trip, SIGTERM with a request in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serving_helpers import REPO, free_port, serve_once, start_serve, stop, wait_healthy

from fsa_distill.cli import main
from fsa_distill.serving.commands import is_loopback

PASTA = "The pasta was great but the waiter was rude."


def test_loopback_detection():
    for host in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "example.org"):
        assert not is_loopback(host), host


def test_a_public_bind_needs_a_token_from_the_environment(capsys, monkeypatch):
    assert main(["serve", "-m", "tiny", "--host", "0.0.0.0"]) == 2
    assert "--api-key-env" in capsys.readouterr().err
    monkeypatch.delenv("FSA_TEST_TOKEN", raising=False)
    assert main(["serve", "-m", "tiny", "--host", "0.0.0.0", "--api-key-env", "FSA_TEST_TOKEN"]) == 2
    err = capsys.readouterr().err
    assert "FSA_TEST_TOKEN" in err and "not set" in err
    # a token pasted where the variable's name belongs is refused, and not echoed
    assert main(["serve", "-m", "tiny", "--api-key-env", "sk-abc def/123"]) == 2
    err = capsys.readouterr().err
    assert "NAME of an environment variable" in err and "sk-abc" not in err


def test_bad_options_are_one_line_errors(capsys):
    assert main(["serve", "-m", "tiny", "--max-batch", "0"]) == 2
    assert "--max-batch" in capsys.readouterr().err
    assert main(["serve", "-m", "tiny", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["serve", "-m", "tiny", "--compute-type", "int8"]) == 2  # before anything binds or loads
    assert "needs the fast path" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_fast_int8_answers_and_says_how(tiny_dir, tmp_path):
    pytest.importorskip("ctranslate2")
    r, info = serve_once(["-m", str(tiny_dir), "--fast", "--compute-type", "int8"], [PASTA, ""], log=tmp_path / "log")
    assert r.status_code == 200 and [x["text"] for x in r.json()["results"]] == [PASTA, ""]
    assert info["fast"] is True and info["compute_type"] == "int8"


@pytest.mark.slow
def test_serve_round_trip_with_the_tiny_model(tiny_dir, tmp_path):
    from fsa_distill.inference import SentimentAnalyzer

    texts = [PASTA, "The battery life is amazing.", "", "Service was slow."]
    r, info = serve_once(["-m", str(tiny_dir), "--max-wait-ms", "5"], texts, log=tmp_path / "log")
    assert r.status_code == 200
    expected = SentimentAnalyzer.from_pretrained(tiny_dir, device="cpu").predict(texts)
    assert r.json()["results"] == [e.to_dict() for e in expected]
    assert r.json()["model"] == "tiny-atsa-rest14-seed0" and info["task"] == "atsa" and info["dataset"] == "rest14"


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_then_exits(tiny_dir, tmp_path):
    """The batcher holds the request 3 s (max-wait-ms) for company; SIGTERM arrives meanwhile:
    the request is still answered, the app shuts down cleanly, the process exits (uvicorn re-raises
    the signal after its graceful shutdown, so the status is -SIGTERM, as a process manager expects)."""
    port = free_port()
    log = tmp_path / "log"
    proc = start_serve(["-m", str(tiny_dir), "--port", str(port), "--max-wait-ms", "3000"], log=log)
    base = f"http://127.0.0.1:{port}"
    answer = {}
    try:
        wait_healthy(base, proc=proc)

        def call():
            answer["r"] = httpx.post(base + "/v1/predict", json={"text": PASTA}, timeout=60)

        t = threading.Thread(target=call)
        t.start()
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        t.join(timeout=60)
        proc.wait(timeout=60)
    finally:
        stop(proc)
    assert answer["r"].status_code == 200 and answer["r"].json()["results"][0]["text"] == PASTA
    text = log.read_text()
    assert proc.returncode in (0, -signal.SIGTERM), text[-2000:]
    assert "Application shutdown complete" in text and "Finished server process" in text
    assert "Traceback" not in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/health", timeout=5)


@pytest.mark.slow
def test_a_missing_model_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "serve", "-m", str(tmp_path / "nope"),
                           "--port", str(free_port())], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 2
    assert "error: model" in proc.stderr and "no such folder" in proc.stderr
