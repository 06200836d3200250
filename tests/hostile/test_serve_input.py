"""`serve` against hostile clients and careless users (issue 24): one client's bad text never fails
another's request; lone surrogates, huge integers and deep nesting are JSON 4xx naming the
problem; `serve` checks the model folder and the port before it starts, in one line, and never
repeats a token pasted where a variable's name belongs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import socket
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_helpers import FakeAnalyzer, InProcessServer, free_port, wait_healthy  # noqa: E402

from helpers import assert_one_line_error, run_cli  # noqa: E402

PASTA = "The pasta was great but the waiter was rude."
POISON = "good \x00poison food"  # valid text the fake model below cannot generate for


class Poisoned(FakeAnalyzer):
    """Fails a whole generation call whenever one of its texts holds a lone surrogate or POISON,
    as a real tokenizer does for a surrogate: the failure of a batch, not of one text."""

    def predict(self, texts, batch_size: int = 32):
        if any(t == POISON or any("\ud800" <= c <= "\udfff" for c in t) for t in texts):
            self.calls.append(list(texts))
            raise ValueError("cannot tokenize a lone surrogate")
        return super().predict(texts, batch_size)


@pytest.fixture
def server():
    from fsa_distill.serving.app import ServeConfig, create_app

    started = []

    def make(analyzer, **cfg):
        app = create_app(ServeConfig(model="fake-model", **cfg), loader=lambda c: analyzer)
        srv = InProcessServer(app).__enter__()
        started.append(srv)
        wait_healthy(srv.base, timeout=30)
        srv.app = app
        return srv

    yield make
    for srv in started:
        srv.__exit__()


def post(srv, body: bytes | dict):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(srv.base + "/v1/predict", content=content, timeout=60,
                      headers={"Content-Type": "application/json"})


def expected(text: str) -> dict:
    return {"text": text, "generated": f"{text.split()[0]} | neutral"}


# ------------------------------------------------------------------------ class 1: cross-client
def test_a_lone_surrogate_is_refused_before_the_queue_naming_its_index(server):
    fake = Poisoned()
    srv = server(fake)
    for body, field in ((b'{"texts": ["a", "b", "c", "good \\ud800 food"]}', "texts[3]"),
                        (b'{"text": "good \\udfff food"}', "text"),
                        (b'{"texts": ["fine"], "\\ud800": 1}', "'\\ud800'")):  # a key, quoted
        r = post(srv, body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field, r.text
    assert "lone surrogate (U+D800) at character 5" in post(srv, b'{"texts": ["good \\ud800 food"]}').text
    # a valid pair is one code point: answered
    r = post(srv, b'{"text": "good \\ud83d\\ude00 food"}')
    assert r.status_code == 200 and r.json()["results"][0]["text"] == "good \U0001F600 food"
    assert fake.calls and not any("\ud800" in t or "\udfff" in t for call in fake.calls for t in call)


def test_a_bad_text_queued_with_good_ones_fails_only_its_own_request(server):
    """Eight one-text requests, a 32-text request and one request whose second text breaks the
    model arrive together and are batched together: the good ones get their normal answers, the
    bad one a 500 naming its text."""
    fake = Poisoned(delay=0.05)
    srv = server(fake, max_batch=64, max_wait_ms=200)
    goods = [{"texts": [f"word{i} is fine"]} for i in range(8)] + [{"texts": [f"many{j} texts" for j in range(32)]}]
    bad = {"texts": ["first is fine", POISON]}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(goods) + 1) as pool:
        answers = list(pool.map(lambda body: post(srv, body), goods + [bad]))
    for body, r in zip(goods, answers):
        assert r.status_code == 200, r.text
        got = [{"text": x["text"], "generated": x["generated"]} for x in r.json()["results"]]
        assert got == [expected(t) for t in body["texts"]]
    assert answers[-1].status_code == 500 and answers[-1].json()["error"]["field"] == "texts[1]"
    assert any(POISON in call and len(call) > 2 for call in fake.calls), "the bad text was never batched with others"
    stats = srv.app.state.fsa.batcher.stats
    assert stats.split >= 1 and stats.failed == 1
    assert post(srv, {"text": PASTA}).status_code == 200  # and the server goes on


def test_the_batcher_isolates_a_surrogate_that_reaches_it():
    """The batcher alone (no validation in front): a surrogate that fails its whole batch fails
    only its own caller, after the halves without it have been answered."""
    from fsa_distill.serving.batcher import Batcher, TextFailed

    fake = Poisoned()

    async def scenario():
        batcher = Batcher(fake.predict, max_batch=16, max_wait_ms=100)
        batcher.start()
        try:
            jobs = [batcher.submit([f"w{i} ok", f"x{i} ok"]) for i in range(5)] + [batcher.submit(["a ok", "b \ud800"])]
            return await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), 30), batcher.stats
        finally:
            await batcher.stop()

    results, stats = asyncio.run(scenario())
    for i, res in enumerate(results[:5]):
        assert [r.generated for r in res] == [f"w{i} | neutral", f"x{i} | neutral"]
    assert isinstance(results[5], TextFailed) and results[5].index == 1
    assert isinstance(results[5].__cause__, ValueError)
    assert stats.largest == 12 and stats.failed == 1 and stats.split >= 1


def test_the_real_model_behind_the_batcher_fails_only_the_surrogate(tmp_path):
    """The tokenizer itself refuses a lone surrogate (TypeError) for its whole batch; behind the
    batcher the seven good texts get exactly the answers they get alone."""
    from test_inference import make_tiny_model

    from fsa_distill.inference import SentimentAnalyzer
    from fsa_distill.serving.batcher import Batcher, TextFailed

    analyzer = SentimentAnalyzer.from_pretrained(make_tiny_model(tmp_path), device="cpu")
    texts = [f"The pasta number {i} was great." for i in range(7)]
    alone = [analyzer.predict([t])[0].to_dict() for t in texts]

    async def scenario():
        batcher = Batcher(analyzer.predict, max_batch=16, max_wait_ms=100)
        batcher.start()
        try:
            jobs = [batcher.submit([t]) for t in texts] + [batcher.submit(["bad \ud800 text"])]
            return await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), 120), batcher.stats
        finally:
            await batcher.stop()

    results, stats = asyncio.run(scenario())
    assert [r[0].to_dict() for r in results[:7]] == alone
    assert isinstance(results[7], TextFailed) and stats.largest == 8 and stats.failed == 1


# --------------------------------------------------------------- class 4: numbers and nesting
@pytest.mark.parametrize("body", [
    b'{"texts": ' + b"1" * 5000 + b"}",
    b'{"texts": ["a", -' + b"9" * 4301 + b"]}",
    b'{"text": "a", "n": ' + b"7" * 100_000 + b"}",
], ids=["5000-digits", "4301-negative-in-list", "100k-digits-in-an-unknown-key"])
def test_huge_integers_are_a_400_naming_them(server, body):
    srv = server(FakeAnalyzer())
    r = post(srv, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "body" and "digits" in r.json()["error"]["message"]
    assert len(r.text) < 300


@pytest.mark.parametrize("body", [
    b'{"texts": [' + b"[" * 3000 + b"]" * 3000 + b"]}",
    b'{"texts": ["a"], "x": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}",
    b'{"texts": [' + b"[" * 100 + b"]" * 100 + b"]}",  # under Python's recursion limit, over ours
    b"[" * 1_000_000,  # unterminated, 1 MB
], ids=["3000-lists", "3000-objects", "100-lists", "1M-open-brackets"])
def test_deep_nesting_is_a_400_naming_the_limit(server, body):
    srv = server(FakeAnalyzer())
    r = post(srv, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "body" and "nested deeper than 64" in r.json()["error"]["message"]


def test_brackets_and_quotes_inside_strings_are_not_nesting_and_cost_little(server):
    srv = server(FakeAnalyzer())
    r = post(srv, {"text": "[[[" * 100 + '"' + "{" * 100})
    assert r.status_code == 200 and r.json()["results"][0]["text"].startswith("[[[")
    # escaped quotes that never close: a naive string pattern rescans them at every quote (hours)
    started = time.monotonic()
    r = post(srv, b'["' + b'\\"[' * 300_000)
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    assert time.monotonic() - started < 10


def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(server, capfd):
    srv = server(FakeAnalyzer())
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"text\": ")
        time.sleep(0.3)
    time.sleep(0.5)
    assert post(srv, {"text": PASTA}).status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ClientDisconnect" not in err, err[-2000:]


# ------------------------------------------------------------------- class 8: the serve command
def assert_only_one_line(r) -> str:
    err = r.stderr.decode()
    line = assert_one_line_error(r.returncode, err)
    assert err.strip() == line, err[-2000:]  # nothing else: no log lines, so nothing started
    return line


def test_serve_on_a_missing_or_non_model_folder_stops_before_binding(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    for model, words in ((tmp_path / "nope", "no such folder"), (tmp_path / "empty", "not a model folder"),
                         (tmp_path / "file", "is a file")):
        port = free_port()
        r = run_cli("serve", "--model", model, "--port", port, timeout=120)
        line = assert_only_one_line(r)
        assert str(model) in line and words in line, line


def test_serve_on_a_port_in_use_is_one_line():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        r = run_cli("serve", "--model", "tiny", "--port", port, timeout=120)
    line = assert_only_one_line(r)
    assert f"error: port {port} on 127.0.0.1 is in use" in line, line


@pytest.mark.parametrize("make", [lambda: "sk_" + secrets.token_hex(20), lambda: "a" + secrets.token_hex(20),
                                  lambda: secrets.token_urlsafe(24), lambda: "JBSWY3DP" + secrets.token_hex(8).upper()],
                         ids=["sk_hex", "letter-hex", "urlsafe", "upper-base32-like"])
def test_a_token_pasted_as_the_variable_name_is_never_echoed(make):
    token = make()
    r = run_cli("serve", "--model", "tiny", "--api-key-env", token, timeout=120)
    line = assert_only_one_line(r)
    assert "looks like a value" in line and token not in r.stderr.decode() and token not in r.stdout.decode()
