"""The HTTP API in process (uvicorn on loopback, a fake analyzer): round trip, schema, every bad
input as a 4xx naming the field, limits, auth, health while loading, batching, disconnects."""

from __future__ import annotations

import concurrent.futures
import json
import secrets
import socket
import threading
import time

import httpx
import pytest
from serving_helpers import CANNED, FakeAnalyzer

PASTA = "The pasta was great but the waiter was rude."
LAPTOP = "The battery life is amazing, though the keyboard feels cheap."


def post(srv, body, headers=None, **kw):
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(srv.base + "/v1/predict", content=content, timeout=30,
                      headers={"Content-Type": "application/json", **(headers or {})}, **kw)


def test_round_trip_returns_clean_results_and_the_model_id(serve_app):
    srv = serve_app()
    r = post(srv, {"texts": [PASTA, LAPTOP, ""]})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "fake-atsa-rest14-seed42"  # from the model card
    pasta, laptop, empty = body["results"]
    assert pasta["generated"] == CANNED[PASTA]  # the raw generation, repeats included
    assert [(a["aspect"], a["polarity"], a["start"], a["end"], a["in_text"]) for a in pasta["aspects"]] == [
        ("pasta", "positive", 4, 9, True), ("waiter", "negative", 28, 34, True)]
    assert [a["aspect"] for a in laptop["aspects"]] == ["battery life", "keyboard"]  # "wait" is absent
    assert empty["aspects"] == [] and empty["text"] == ""
    one = post(srv, {"text": PASTA}).json()
    assert one["results"] == [pasta]


def test_results_are_the_analyzer_objects_and_one_schema_in_openapi(serve_app):
    from fsa_distill.inference import to_result

    srv = serve_app()
    got = post(srv, {"texts": [PASTA]}).json()["results"][0]
    assert got == to_result("atsa", PASTA, CANNED[PASTA]).to_dict()
    spec = httpx.get(srv.base + "/openapi.json", timeout=10).json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["AnalysisResult"]["properties"]) == {"text", "generated", "aspects", "truncated"}
    assert set(schemas["AspectSentiment"]["properties"]) == {"aspect", "polarity", "start", "end", "in_text"}
    op = spec["paths"]["/v1/predict"]["post"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("PredictResponse")
    assert set(op["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"texts", "text"}
    assert {"400", "413", "422", "503"} <= set(op["responses"])


def test_model_card_and_health(serve_app):
    srv = serve_app(keep_absent=True)
    assert httpx.get(srv.base + "/health", timeout=10).json()["status"] == "ok"
    info = httpx.get(srv.base + "/v1/model", timeout=10).json()
    assert info["task"] == "atsa" and info["dataset"] == "rest14" and info["base_model"] == "fake"
    assert info["scores"]["normal"]["f1"] == 0.444 and info["limits"]["max_texts"] == 64
    assert info["fast"] is False and info["compute_type"] == "float32"
    page = httpx.get(srv.base + "/", timeout=10)
    assert page.status_code == 200 and "<textarea" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # self-contained: no CDN


def test_health_is_503_until_the_model_is_loaded(serve_app):
    release = threading.Event()

    def slow_loader(cfg):
        assert release.wait(30)
        return FakeAnalyzer()

    srv = serve_app(wait=False, loader=slow_loader)
    h = httpx.get(srv.base + "/health", timeout=10)
    assert h.status_code == 503 and h.json()["status"] == "loading"
    r = post(srv, {"text": PASTA})
    assert r.status_code == 503 and r.json()["error"]["field"] == "model"
    release.set()
    deadline = time.monotonic() + 30
    while httpx.get(srv.base + "/health", timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert post(srv, {"text": PASTA}).status_code == 200


def test_a_model_that_fails_to_load_is_reported_by_health(serve_app):
    def broken(cfg):
        raise RuntimeError("model 'x': no such folder")

    srv = serve_app(wait=False, loader=broken)
    deadline = time.monotonic() + 10
    while httpx.get(srv.base + "/health", timeout=10).json()["status"] != "error":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    h = httpx.get(srv.base + "/health", timeout=10)
    assert h.status_code == 503 and "no such folder" in h.json()["error"]


BAD_INPUTS = [
    (b'{"texts": ["a"', 400, "body", "invalid JSON"),
    (b'{"text": "caf\xe9"}', 400, "body", "UTF-8"),
    (b'[1, 2]', 422, "body", "JSON object"),
    (b'"just a string"', 422, "body", "JSON object"),
    (b'{}', 422, "texts", "exactly one"),
    (b'{"texts": []}', 422, "texts", "empty list"),
    (b'{"texts": "one string"}', 422, "texts", "list"),
    (b'{"texts": ["ok", 3]}', 422, "texts[1]", "string"),
    (b'{"texts": [null]}', 422, "texts[0]", "string"),
    (b'{"text": 5}', 422, "text", "string"),
    (b'{"text": "a", "texts": ["b"]}', 422, "texts", "exactly one"),
    (b'{"txt": "a"}', 422, "txt", "unknown field"),
    (b'[' * 100_000, 400, "body", "invalid JSON"),
    (b'', 400, "body", "invalid JSON"),
]


@pytest.mark.parametrize("body,status,field,words", BAD_INPUTS, ids=[str(b[:20]) for b, *_ in BAD_INPUTS])
def test_bad_input_is_a_4xx_naming_the_field(serve_app, body, status, field, words):
    srv = serve_app()
    r = post(srv, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field and words in err["message"]
    assert len(err["message"]) < 200  # never the whole bad value
    assert post(srv, {"text": PASTA}).status_code == 200  # and the server carries on


def test_limits_on_texts_characters_and_body(serve_app):
    srv = serve_app(max_texts=3, max_text_chars=50, max_body_bytes=1000)
    r = post(srv, {"texts": ["a"] * 4})
    assert r.status_code == 413 and r.json()["error"]["field"] == "texts"
    r = post(srv, {"texts": ["fine", "x" * 51]})
    assert r.status_code == 413 and r.json()["error"]["field"] == "texts[1]"
    assert "x" * 51 not in r.text
    r = post(srv, {"text": "y" * 900})
    assert r.status_code == 413 and r.json()["error"]["field"] == "text"
    r = post(srv, {"texts": ["z" * 40] * 3 + [" " * 2000]})  # declared Content-Length too large
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b" " * 100

    r = httpx.post(srv.base + "/v1/predict", content=chunks(), timeout=30)
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    assert post(srv, {"texts": ["fine"] * 3}).status_code == 200


def test_unknown_paths_and_methods_are_json_errors(serve_app):
    srv = serve_app()
    r = httpx.get(srv.base + "/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["field"] == "path"
    r = httpx.get(srv.base + "/v1/predict", timeout=10)
    assert r.status_code == 405 and "error" in r.json()


def test_bearer_token_is_required_on_the_api_when_set(serve_app):
    token = secrets.token_hex(16)  # made here, so no token-like literal sits in the repository
    srv = serve_app(api_key=token)
    assert httpx.get(srv.base + "/health", timeout=10).json()["auth"] is True
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
        r = post(srv, {"text": PASTA}, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["field"] == "authorization"
        assert token not in r.text
        assert httpx.get(srv.base + "/v1/model", headers=headers, timeout=10).status_code == 401
    ok = {"Authorization": f"Bearer {token}"}
    assert post(srv, {"text": PASTA}, headers=ok).status_code == 200
    assert httpx.get(srv.base + "/v1/model", headers=ok, timeout=10).status_code == 200


def test_concurrent_requests_are_batched_and_answered_in_order(serve_app):
    fake = FakeAnalyzer(delay=0.05)  # each generation call takes a while, so requests pile up
    srv = serve_app(analyzer=fake, max_batch=64, max_wait_ms=50)
    requests = [[f"word{i} text {j}" for j in range(1 + i % 3)] for i in range(24)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(lambda texts: post(srv, {"texts": texts}), requests))
    for texts, r in zip(requests, answers):
        assert r.status_code == 200
        results = r.json()["results"]
        assert [x["text"] for x in results] == texts
        assert [x["generated"] for x in results] == [f"{t.split()[0]} | neutral" for t in texts]
    sent = [t for call in fake.calls for t in call]
    assert sorted(sent) == sorted(t for texts in requests for t in texts)  # each text generated once
    assert len(fake.calls) < len(requests) / 2, f"{len(fake.calls)} generation calls for {len(requests)} requests"


def test_max_batch_one_turns_batching_off(serve_app):
    fake = FakeAnalyzer()
    srv = serve_app(analyzer=fake, max_batch=1, max_wait_ms=0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: post(srv, {"texts": [f"a{i}", f"b{i}"]}), range(8)))
    assert all(r.status_code == 200 for r in answers)
    assert all(len(call) == 1 for call in fake.calls) and len(fake.calls) == 16


def test_a_client_that_disconnects_costs_nothing(serve_app):
    """While one generation runs, a client sends a request and hangs up: its texts are never
    generated, and the server keeps answering."""
    fake = FakeAnalyzer(delay=1.0)
    srv = serve_app(analyzer=fake, max_batch=8, max_wait_ms=0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(post, srv, {"text": "first request"})
        deadline = time.monotonic() + 10
        while not fake.calls:  # the first generation has started
            assert time.monotonic() < deadline
            time.sleep(0.01)
        body = json.dumps({"texts": ["gone-1", "gone-2"]}).encode()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.3)  # let the server read it and queue the texts
        assert busy.result(timeout=30).status_code == 200
    assert post(srv, {"text": "after"}).json()["results"][0]["text"] == "after"
    sent = [t for call in fake.calls for t in call]
    assert "gone-1" not in sent and "gone-2" not in sent
    assert srv.app.state.fsa.batcher.stats.skipped == 2


def test_generation_errors_reach_the_callers_as_500_json_and_the_server_lives(serve_app):
    class Broken(FakeAnalyzer):
        def predict(self, texts, batch_size=32):
            if "boom" in texts:
                raise RuntimeError("kernel exploded")
            return super().predict(texts, batch_size)

    srv = serve_app(analyzer=Broken(), max_batch=1)
    r = post(srv, {"text": "boom"})
    assert r.status_code == 500 and r.json()["error"]["field"] == "text"  # the text that failed
    assert post(srv, {"text": PASTA}).status_code == 200
    r = post(srv, {"texts": [PASTA, "boom"]})
    assert r.status_code == 500 and r.json()["error"]["field"] == "texts[1]"


def test_acsa_results_are_categories(serve_app):
    srv = serve_app(analyzer=FakeAnalyzer(task="acsa"))
    res = post(srv, {"text": "Nice food, rude staff."}).json()["results"][0]
    assert [(a["aspect"], a["polarity"], a["in_text"]) for a in res["aspects"]] == [
        ("food quality", "positive", None), ("service general", "negative", None)]
    assert httpx.get(srv.base + "/v1/model", timeout=10).json()["task"] == "acsa"
