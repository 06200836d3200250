"""A loopback OpenAI-compatible server with canned answers, fixed latency and injected faults.

Used by the fault tests and the throughput benchmark, and handy to try the openai backend with no
model at all:

    python -m fsa_distill.teacher.loopback --port 8000 --latency 0.05 --fail-rate 0.3

It implements POST /v1/chat/completions and /v1/completions (non-streaming) and GET /v1/models.
Answers are built from the review found in the prompt: an analysis block naming a word of the
review as target when the prompt asks for "Opinion Target" blocks, else a first-person rewrite.

Faults: the first `fail_attempts` requests for a given prompt fail with probability `fail_rate`
(decided by a hash of the prompt, so it is reproducible), cycling through `faults`:
  429        rate limited, with Retry-After: 0
  500        server error
  hang       no answer for `hang_s` seconds (longer than the client's timeout)
  cutoff     Content-Length promises more bytes than are sent, then the connection closes
  malformed  a 200 whose body is not JSON
  nochoices  a 200 with valid JSON but no choices
Independently of faults, a prompt longer than `max_prompt_words` gets the 400 a real server gives
for a prompt over its context length. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Sequence

FAULTS = ("429", "500", "hang", "cutoff", "malformed", "nochoices")
_REVIEW = re.compile(r"Review:\s*(.*?)(?:\n(?:Analysis|Rewrite):|\Z)", re.S)


def canned_answer(prompt: str) -> str:
    found = _REVIEW.findall(prompt)
    review = (found[-1] if found else prompt).strip()
    if "Opinion Target" in prompt:
        target = next((w for w in re.findall(r"[A-Za-z]{4,}", review)), "review")
        return (f'Opinion Target 1: "{target}"\nAspect: General\nSentiment: Positive\n'
                f'Reasoning: The reviewer mentions "{target}" in a favourable way.')
    return "I want to say clearly how I feel: " + " ".join(review.split())


class _State:
    def __init__(self, latency_s, fail_rate, fail_attempts, faults, hang_s, max_prompt_words):
        self.latency_s, self.fail_rate, self.fail_attempts = latency_s, fail_rate, fail_attempts
        self.max_prompt_words = max_prompt_words
        self.faults, self.hang_s = tuple(faults), hang_s
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.requests = 0
        self.injected: dict[str, int] = {}

    def fault_for(self, prompt: str) -> Optional[str]:
        h = hashlib.sha256(prompt.encode()).digest()
        with self.lock:
            self.requests += 1
            n = self.attempts.get(h, 0)
            self.attempts[h] = n + 1
            fails = int.from_bytes(h[:4], "big") / 2**32 < self.fail_rate
            if not fails or n >= self.fail_attempts or not self.faults:
                return None
            fault = self.faults[(h[4] + n) % len(self.faults)]
            self.injected[fault] = self.injected.get(fault, 0) + 1
            return fault


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers; every reply sets Content-Length
    server: "LoopbackServer"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm holds the body
        # until the client's delayed ACK (~40 ms), which would swamp the configured latency.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):  # quiet: tests and benchmarks read stdout
        pass

    def _send(self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = (), length=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": "loopback", "object": "model"}]}).encode())
        elif self.path.rstrip("/") == "/stats":
            with st.lock:
                body = {"requests": st.requests, "injected": dict(st.injected)}
            self._send(200, json.dumps(body).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._send(400, b'{"error": {"message": "bad json"}}')
        path = self.path.rstrip("/")
        if path == "/v1/chat/completions":
            prompt = "\n".join(str(m.get("content", "")) for m in req.get("messages", []))
        elif path == "/v1/completions":
            prompt = str(req.get("prompt", ""))
        else:
            return self._send(404, b'{"error": {"message": "not found"}}')
        st = self.server.state
        if st.max_prompt_words and len(prompt.split()) > st.max_prompt_words:
            return self._send(400, b'{"error": {"message": "prompt exceeds the context length"}}')
        fault = st.fault_for(prompt)
        if fault == "hang":
            time.sleep(st.hang_s)
            self.close_connection = True
            return
        if st.latency_s:
            time.sleep(st.latency_s)
        if fault == "429":
            return self._send(429, b'{"error": {"message": "rate limited"}}', [("Retry-After", "0")])
        if fault == "500":
            return self._send(500, b'{"error": {"message": "injected server error"}}')
        if fault == "malformed":
            return self._send(200, b"<html>upstream proxy error</html>")
        if fault == "nochoices":
            return self._send(200, b'{"id": "x", "object": "chat.completion", "choices": []}')
        text = canned_answer(prompt)
        max_tokens = int(req.get("max_tokens") or 10**6)
        toks = text.split(" ")
        finish = "length" if len(toks) > max_tokens else "stop"
        text = " ".join(toks[:max_tokens])
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": min(len(toks), max_tokens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if path == "/v1/chat/completions":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            obj = "text_completion"
        body = json.dumps({"id": "cmpl-loopback", "object": obj, "created": int(time.time()),
                           "model": req.get("model", "loopback"), "choices": [choice], "usage": usage}).encode()
        if fault == "cutoff":
            self._send(200, body[: len(body) // 2], length=len(body))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self._send(200, body)


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True  # hung handlers must not keep a test process alive
    request_queue_size = 128

    def __init__(self, port: int = 0, latency_s: float = 0.0, fail_rate: float = 0.0, fail_attempts: int = 1,
                 faults: Sequence[str] = FAULTS, hang_s: float = 5.0, max_prompt_words: Optional[int] = None):
        bad = [f for f in faults if f not in FAULTS]
        if bad:
            raise ValueError(f"unknown faults {bad}; known: {FAULTS}")
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = _State(latency_s, fail_rate, fail_attempts, faults, hang_s, max_prompt_words)
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> "LoopbackServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--fail-attempts", type=int, default=1)
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--hang", type=float, default=5.0)
    a = ap.parse_args(argv)
    server = LoopbackServer(a.port, a.latency, a.fail_rate, a.fail_attempts,
                            [f for f in a.faults.split(",") if f], a.hang)
    print(f"listening {server.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
