"""`serve` answers with an extractive student (a tagger) exactly as `predict` does."""

import httpx
import pytest
from serving_helpers import free_port, start_serve, stop, wait_healthy

from fsa_distill.inference import SentimentAnalyzer
from fsa_distill.student.finetune import FinetuneConfig, finetune


@pytest.mark.slow
def test_serve_answers_with_the_tagger(tmp_path):
    cfg = FinetuneConfig(model="minilm-tagger", output_dir=str(tmp_path / "run"), test_limit=10,
                         train={"train_limit": 32, "dev_limit": 8, "epochs": 1, "learning_rate": 1e-4})
    best = tmp_path / "run" / "best_model"
    finetune(cfg, progress=False)
    port = free_port()
    proc = start_serve(["-m", str(best), "--port", str(port), "--max-wait-ms", "5"], log=tmp_path / "log")
    base = f"http://127.0.0.1:{port}"
    texts = ["The pasta was great but the waiter was rude.", "", "Service was slow."]
    try:
        wait_healthy(base, proc=proc)
        r = httpx.post(base + "/v1/predict", json={"texts": texts}, timeout=60)
        info = httpx.get(base + "/v1/model", timeout=10).json()
    finally:
        stop(proc)
    assert r.status_code == 200 and info["family"] == "extractive"
    expected = SentimentAnalyzer.from_pretrained(best, device="cpu").predict(texts)
    assert r.json()["results"] == [e.to_dict() for e in expected]
