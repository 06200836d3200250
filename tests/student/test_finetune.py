"""The real fine-tuning recipe, a few steps of the tiny preset on a slice of rest14, on CPU."""

import json
from pathlib import Path

import pytest

from fsa_distill.cli import main
from fsa_distill.student.finetune import FinetuneConfig, finetune


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "run"
    cfg = FinetuneConfig(model="tiny", task="atsa", dataset="rest14", seed=42, output_dir=str(out),
                         test_limit=150, decode={"max_length": 24},
                         train={"train_limit": 96, "dev_limit": 32, "epochs": 2, "logging_steps": 2})
    return finetune(cfg, progress=False)


def test_run_folder_is_complete(run):
    from pathlib import Path

    d = Path(run["run_dir"])
    for name in ("config.yaml", "run_info.json", "dev_curve.json", "dev_curve.csv", "metrics.json",
                 "best_model/model.safetensors", "best_model/README.md", "best_model/fsa_distill.json"):
        assert (d / name).exists(), name
    assert not list(d.rglob("*.bin")) and not (d / "trainer").exists()
    info = json.loads((d / "run_info.json").read_text())
    assert info["steps"] == 12 and info["environment"]["torch"] and info["timing"]["train_s"] > 0
    curve = json.loads((d / "dev_curve.json").read_text())
    assert [p["epoch"] for p in curve] == [1, 2] and curve[0]["best"] is True
    metrics = json.loads((d / "metrics.json").read_text())
    assert {"normal", "test", "hard", "implicit", "multi"} >= set(metrics) >= {"normal", "test"}
    # every view has its raw predictions, and the metrics are those of that file
    from fsa_distill.benchmark.scoring import score
    from fsa_distill.benchmark.views import load_view

    rows = [json.loads(x) for x in (d / "eval" / "predictions_normal.jsonl").read_text().splitlines()]
    assert len(rows) == 150 and {"id", "sentence", "prediction", "gold", "pred_pairs"} <= set(rows[0])
    examples = load_view("atsa", "rest14", "normal")[:150]
    assert score("atsa", examples, [r["prediction"] for r in rows], bootstrap=0)["f1"] == metrics["normal"]["f1"]
    meta = json.loads((d / "best_model" / "fsa_distill.json").read_text())
    assert meta["task"] == "atsa" and meta["scores"]["normal"]["f1"] == metrics["normal"]["f1"]


def test_evaluate_command_on_the_saved_model(run, tmp_path, capsys):
    best = f"{run['run_dir']}/best_model"
    assert main(["evaluate", "--model", best, "--limit", "150", "--max-length", "24", "--quiet", "--output", str(tmp_path / "ev")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the same model, the same sentences, greedy decoding: the same numbers as the run itself
    assert out["f1"]["normal"] == pytest.approx(run["metrics"]["normal"]["f1"])
    assert (tmp_path / "ev" / "predictions_multi.jsonl").exists()


def test_evaluate_fast_scores_what_transformers_scores(run, capsys):
    """`evaluate --fast` decodes through CTranslate2 (float32): the same F1, in its own folder
    beside the model so it never overwrites the transformers evaluation."""
    pytest.importorskip("ctranslate2")
    best = f"{run['run_dir']}/best_model"
    assert main(["evaluate", "--model", best, "--limit", "150", "--max-length", "24", "--quiet", "--fast"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["output"].endswith("eval-atsa-rest14-fast")
    assert out["f1"]["normal"] == pytest.approx(run["metrics"]["normal"]["f1"])
    info = json.loads((Path(out["output"]) / "eval_info.json").read_text())
    assert info["fast"] is True and info["compute_type"] == "float32"


def test_save_model_false_keeps_only_metrics(tmp_path):
    cfg = FinetuneConfig(output_dir=str(tmp_path / "r"), save_model=False, test_limit=50, decode={"max_length": 16},
                         train={"train_limit": 16, "dev_limit": 8, "max_steps": 2})
    result = finetune(cfg, progress=False)
    assert not (tmp_path / "r" / "best_model").exists()
    assert (tmp_path / "r" / "metrics.json").exists() and "normal" in result["metrics"]


def test_group_by_length_batches_pad_less(tmp_path):
    """train.group_by_length swaps the random sampler for a length-grouped one: fewer pad tokens."""
    from transformers import (
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
    )

    from fsa_distill.benchmark.data import load_split
    from fsa_distill.models import load_student
    from fsa_distill.student.finetune import build_pairs, sampling_args, tokenize_pairs

    model, tokenizer = load_student("tiny")
    train = tokenize_pairs(tokenizer, *build_pairs("atsa", load_split("atsa", "rest14", "train")[:640]))

    def padding(group: bool) -> float:
        args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=16, report_to=[],
                                        remove_unused_columns=False, use_cpu=True, **sampling_args(group))
        trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train,
                                 data_collator=DataCollatorForSeq2Seq(tokenizer, model=model))
        mask = [b["attention_mask"] for b in trainer.get_train_dataloader()]
        assert sum(len(m) for m in mask) == 640  # every sentence once
        return sum(float((m == 0).sum()) for m in mask) / sum(m.numel() for m in mask)

    assert sampling_args(False) == {}
    assert padding(True) < 0.5 * padding(False)
