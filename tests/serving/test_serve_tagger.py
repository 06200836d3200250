"""`serve` answers with an extractive student (a tagger) exactly as `predict` does."""

import pytest
from serving_helpers import serve_once

from fsa_distill.inference import SentimentAnalyzer
from fsa_distill.student.finetune import FinetuneConfig, finetune


@pytest.mark.slow
def test_serve_answers_with_the_tagger(tmp_path):
    cfg = FinetuneConfig(model="minilm-tagger", output_dir=str(tmp_path / "run"), test_limit=10,
                         train={"train_limit": 32, "dev_limit": 8, "epochs": 1, "learning_rate": 1e-4})
    best = tmp_path / "run" / "best_model"
    finetune(cfg, progress=False)
    texts = ["The pasta was great but the waiter was rude.", "", "Service was slow."]
    r, info = serve_once(["-m", str(best), "--max-wait-ms", "5"], texts, log=tmp_path / "log")
    assert r.status_code == 200 and info["family"] == "extractive"
    expected = SentimentAnalyzer.from_pretrained(best, device="cpu").predict(texts)
    assert r.json()["results"] == [e.to_dict() for e in expected]
