import time

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.teacher.backends import Completion, RenderedPrompt, make_backend
from fsa_distill.teacher.backends.openai_api import RateLimiter, backoff_delay
from fsa_distill.teacher.config import OpenAIBackendConfig, ReplayBackendConfig
from fsa_distill.teacher.loopback import FAULTS

CHAT = RenderedPrompt.chat([{"role": "user", "content": "Review: The soup was cold."}])
TEXT = RenderedPrompt.completion("Review: The soup was cold.\nRewrite:\n")


def openai_backend(url, **kw):
    base = dict(base_url=url, model="loopback", timeout_s=0.5, backoff_base_s=0.01, max_retries=3)
    return make_backend(OpenAIBackendConfig(**{**base, **kw}))


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_retried_to_success(loopback, fault):
    srv = loopback(fail_rate=1.0, faults=[fault], hang_s=2.0)
    [c] = openai_backend(srv.base_url).complete_many([CHAT], max_tokens=50)
    assert c.attempts == 2 and c.finish_reason == "stop"
    assert c.text == "I want to say clearly how I feel: The soup was cold."
    assert c.completion_tokens == 12 and c.prompt_tokens > 0
    assert srv.state.injected == {fault: 1}


def test_completion_mode_and_max_tokens(loopback):
    srv = loopback()
    b = openai_backend(srv.base_url, mode="completion")
    [c] = b.complete_many([TEXT], max_tokens=3)
    assert c.text == "I want to" and c.finish_reason == "length"
    with pytest.raises(FsaError, match="completion mode but got a chat prompt"):
        b.complete_many([CHAT])


def test_complete_many_keeps_order_and_can_be_called_twice(loopback):
    srv = loopback(latency_s=0.01)
    b = openai_backend(srv.base_url)
    prompts = [RenderedPrompt.chat([{"role": "user", "content": f"Review: item {i}"}]) for i in range(20)]
    for _ in range(2):  # a new event loop per call must get a new HTTP client
        out = b.complete_many(prompts, concurrency=8)
        assert [c.text.rsplit(" ", 1)[-1] for c in out] == [str(i) for i in range(20)]


def test_unreachable_server_names_the_url():
    b = openai_backend("http://127.0.0.1:9/v1", max_retries=1)
    with pytest.raises(FsaError, match=r"teacher at http://127\.0\.0\.1:9/v1 unreachable after 2 attempts"):
        b.complete_many([CHAT])


def test_persistent_failure_and_timeout_give_up(loopback):
    srv = loopback(fail_rate=1.0, fail_attempts=99, faults=["500"])
    with pytest.raises(FsaError, match="kept failing after 3 attempts: InternalServerError"):
        openai_backend(srv.base_url, max_retries=2).complete_many([CHAT])
    srv = loopback(fail_rate=1.0, fail_attempts=99, faults=["hang"], hang_s=1.0)
    with pytest.raises(FsaError, match=r"timed out \(timeout_s=0.2\) after 2 attempts"):
        openai_backend(srv.base_url, max_retries=1, timeout_s=0.2).complete_many([CHAT])


def test_bad_request_rejects_one_prompt_not_the_run(loopback):
    srv = loopback(max_prompt_words=50)
    b = openai_backend(srv.base_url)
    long = RenderedPrompt.chat([{"role": "user", "content": "Review: " + "word " * 60}])
    bad, good = b.complete_many([long, CHAT], max_tokens=50)
    assert bad.finish_reason == "error" and "HTTP 400" in bad.error and bad.attempts == 1
    assert good.finish_reason == "stop"
    # A 404 (wrong model or path) stops the run with a pointed message.
    b404 = openai_backend(srv.base_url.replace("/v1", "/nope"))
    with pytest.raises(FsaError, match="HTTP 404 for model 'loopback'"):
        b404.complete_many([CHAT])


def test_rate_limit_spaces_requests(loopback):
    srv = loopback()
    b = openai_backend(srv.base_url, requests_per_second=20)
    prompts = [RenderedPrompt.chat([{"role": "user", "content": f"Review: {i}"}]) for i in range(11)]
    b.complete_many(prompts[:1])  # warm the imports
    t = time.perf_counter()
    b.complete_many(prompts, concurrency=11)
    assert time.perf_counter() - t >= 0.45  # 11 starts at 20/s span 0.5 s


def test_backoff_is_exponential_with_jitter_and_capped():
    for attempt in range(6):
        step = min(2.0, 0.1 * 2**attempt)
        d = [backoff_delay(attempt, 0.1, 2.0) for _ in range(50)]
        assert all(step / 2 <= x <= step for x in d) and len(set(d)) > 1
    assert backoff_delay(0, 0.1, 2.0, retry_after=1.5) >= 1.5
    assert RateLimiter(None).interval == 0


def test_replay_backend_answers_by_review_and_kind(sample_rows):
    b = make_backend(ReplayBackendConfig())
    r = sample_rows[0]
    hit = RenderedPrompt.chat([{"role": "user", "content": "anything"}], kind="rewrite", source="  " + r["Text"].upper())
    miss = RenderedPrompt.chat([{"role": "user", "content": "anything"}], kind="analysis", source=r["Text"])
    out = b.complete_many([hit, miss])
    assert out[0].text == r["mixtral_response"] and out[0].finish_reason == "stop"
    assert out[1].finish_reason == "no_recording"


def test_replay_of_our_own_corpus(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "Nice.", "kind": "analysis", "raw_response": "Opinion Target 1: \\"x\\""}\n')
    b = make_backend(ReplayBackendConfig(recordings=str(p)))
    assert b.has("nice.", "analysis") and not b.has("nice.", "rewrite")
    p.write_text('{"foo": 1}\n')
    with pytest.raises(FsaError, match=r"c\.jsonl:1: expected Text\+mixtral_response"):
        make_backend(ReplayBackendConfig(recordings=str(p)))


def test_llama_cpp_backend_explains_a_missing_install_or_file(tmp_path):
    from fsa_distill.teacher.config import LlamaCppBackendConfig

    with pytest.raises(FsaError, match="llama-cpp-python|GGUF model file not found"):
        make_backend(LlamaCppBackendConfig(model_path=str(tmp_path / "none.gguf")))


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory):
    """A 2-layer GPT-2 with a tokenizer trained here: no hub, a few seconds."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["The soup was cold and the waiter was rude.", "Great battery, poor screen.", "Review: Rewrite:"] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>")
    model = GPT2LMHeadModel(GPT2Config(vocab_size=fast.vocab_size, n_positions=256, n_embd=32, n_layer=2, n_head=2,
                                       eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id))
    path = tmp_path_factory.mktemp("tiny_lm")
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_transformers_backend_batches_requests(tiny_causal_lm):
    from fsa_distill.teacher.config import TransformersBackendConfig

    b = make_backend(TransformersBackendConfig(model=str(tiny_causal_lm), batch_size=4))
    assert b.mode == "completion"  # no chat template -> completion rendering
    calls = []
    real = b.generate_batch
    b.generate_batch = lambda prompts, *a: calls.append(len(prompts)) or real(prompts, *a)
    prompts = [RenderedPrompt.completion(f"Review: The soup was cold {i}.\nRewrite:\n") for i in range(6)]
    out = b.complete_many(prompts, concurrency=6, max_tokens=5, temperature=0.0)
    assert len(out) == 6 and all(isinstance(c, Completion) for c in out)
    assert all(c.completion_tokens <= 5 and c.prompt_tokens > 5 for c in out)
    assert all(c.finish_reason in ("stop", "length") for c in out)
    assert max(calls) > 1 and sum(calls) == 6  # concurrent requests shared generate() calls
    with pytest.raises(FsaError, match="completion mode but got chat messages"):
        b.complete_many([CHAT])
