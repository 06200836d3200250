"""The multi-task recipe (issue 23, H2/H3): the loss weights, the mixed data and a real tiny run."""

import json
from pathlib import Path

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.student import multitask as mt
from fsa_distill.student.multitask import MultitaskConfig, MultitaskSettings

TINY = dict(model="tiny", task="atsa", dataset="rest14", seed=42, test_limit=12, save_model=False,
            decode={"max_length": 12},
            train={"train_limit": 8, "dev_limit": 6, "max_steps": 3, "batch_size": 4, "logging_steps": 1})


def test_stream_weights_make_the_expected_loss_alpha_weighted():
    # 30 task, 10 teacher examples, alpha 0.5: a uniformly drawn example's expected weighted loss
    # is 0.5 * task + 0.5 * teacher
    w_task, w_teacher = mt.stream_weights(30, 10, 0.5)
    assert 30 / 40 * w_task == pytest.approx(0.5) and 10 / 40 * w_teacher == pytest.approx(0.5)
    w_task, w_teacher = mt.stream_weights(10, 10, 0.8)
    assert (w_task, w_teacher) == (pytest.approx(1.6), pytest.approx(0.4))
    assert mt.stream_weights(10, 0, 0.5) == (1.0, 0.0)


def test_weighted_loss_is_each_examples_mean_token_loss_times_its_weight():
    import torch

    from fsa_distill.models import load_student

    model, tok = load_student("tiny")
    model.eval()
    src = tok(["the pasta was great", "explain: a long review"], padding=True, return_tensors="pt")
    labels = tok(text_target=["pasta | positive", "a long answer of the teacher"], padding=True,
                 return_tensors="pt")["input_ids"]
    labels[labels == tok.pad_token_id] = -100
    weights = torch.tensor([1.5, 0.5])
    with torch.no_grad():
        got = mt.weighted_loss(model, {**src, "labels": labels, mt.WEIGHT: weights})
        singles = [model(input_ids=src["input_ids"][i:i + 1], attention_mask=src["attention_mask"][i:i + 1],
                         labels=labels[i:i + 1]).loss for i in range(2)]
    assert float(got) == pytest.approx(float((1.5 * singles[0] + 0.5 * singles[1]) / 2), rel=1e-5)


def test_mixed_sample_cycles_whole_shuffles():
    out = mt.mixed_sample(list(range(4)), 10, seed=1)
    assert len(out) == 10 and sorted(out[:4]) == [0, 1, 2, 3] and sorted(out[4:8]) == [0, 1, 2, 3]
    assert mt.mixed_sample(list(range(4)), 10, seed=1) == out


def test_teacher_records_never_include_the_held_out_reviews():
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.student.pretrain_data import read_records, review_key, split_holdout

    s = MultitaskSettings()
    records = mt.teacher_records(s, seed=0)
    _, held = split_holdout(read_records([teacher_sample_path()]), 50, 42)
    assert not {review_key(r.text) for r in records} & {review_key(r.text) for r in held}
    only = mt.teacher_records(MultitaskSettings(kinds=["analysis"]), seed=0)
    assert {r.kind for r in only} == {"analysis"} and len(only) < len(records)


def test_multitask_checks_its_task(tmp_path):
    mt.check_config(MultitaskConfig(**TINY, output_dir=str(tmp_path / "r")))  # prefix "predict: " by default
    with pytest.raises(FsaError, match="ATSA only"):
        mt.check_config(MultitaskConfig(**{**TINY, "task": "acsa", "dataset": "rest16"}, prefix="",
                                        multitask={"silver": "beside"}, output_dir="x"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mt") / "run"
    cfg = MultitaskConfig(**TINY, prefix="", output_dir=str(out), multitask={"mix_ratio": 1.0, "silver": "beside"})
    return mt.multitask(cfg, progress=False)


def test_a_tiny_multitask_run_writes_a_finetune_run_record(tiny_run):
    d = Path(tiny_run["run_dir"])
    info = json.loads((d / "run_info.json").read_text())
    assert info["kind"] == "finetune" and info["recipe"] == "multitask" and info["steps"] == 3
    streams = info["multitask"]
    # 8 gold + every silver pair in the task stream, as many teacher examples (mix_ratio 1)
    assert streams["silver_examples"] > 300 and streams["task_examples"] == 8 + streams["silver_examples"]
    assert streams["teacher_examples"] == streams["task_examples"]
    assert streams["task_weight"] == pytest.approx(1.0) and streams["teacher_weight"] == pytest.approx(1.0)
    assert info["train_sentences"] == streams["task_examples"]
    metrics = json.loads((d / "metrics.json").read_text())
    assert "normal" in metrics and 0 <= metrics["normal"]["f1"] <= 1
    assert "multitask" in (d / "config.yaml").read_text()
    assert not (d / "trainer").exists()


def test_a_finished_run_is_skipped(tiny_run):
    cfg = MultitaskConfig(**TINY, prefix="", output_dir=tiny_run["run_dir"],
                          multitask={"mix_ratio": 1.0, "silver": "beside"})
    assert mt.multitask(cfg, progress=False).get("skipped") is True


def test_silver_before_trains_a_silver_phase_first(tmp_path, monkeypatch):
    calls = []
    real = mt.weighted_loss
    monkeypatch.setattr(mt, "weighted_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = MultitaskConfig(**{**TINY, "train": {**TINY["train"], "max_steps": 1}}, prefix="",
                          output_dir=str(tmp_path / "r"),
                          multitask={"teacher_text": False, "silver": "before", "silver_epochs": 0.02})
    info = mt.multitask(cfg, progress=False)["info"]
    assert info["multitask"]["silver_phase_steps"] >= 1 and info["multitask"]["teacher_examples"] == 0
    assert info["train_sentences"] == 8  # the gold phase trains on gold alone
    assert len(calls) == 1  # the gold phase's one step went through the weighted loss


def test_stream_batches_hold_one_stream_each_and_change_by_epoch():
    sampler = mt.StreamBatchSampler([10, 5], batch_size=4, seed=3)
    assert len(sampler) == (3 + 2) * 4
    first = sampler.batches(0)
    assert len(first) == 5 and all(len(b) == 4 for b in first)
    assert all(set(b) <= set(range(10)) or set(b) <= set(range(10, 15)) for b in first)
    assert set().union(*map(set, first)) == set(range(15))  # every example each epoch
    assert first == mt.StreamBatchSampler([10, 5], 4, 3).batches(0) and first != sampler.batches(1)
    assert list(iter(sampler)) == [i for b in first for i in b] and sampler.epoch == 1
    assert len(mt.StreamBatchSampler([8, 0], 4, 0)) == 8
