"""Fine-tune a student on ATSA or ACSA and evaluate it on every view: one (task, dataset, seed).

Reads top to bottom as the recipe runs:
  1. load the splits and build (sentence -> target string) pairs, reference-exact
  2. load the student (preset, folder or hub id)
  3. train with Hugging Face Seq2SeqTrainer: AdamW 3e-4 on *all* parameters (the reference applies
     weight decay to every tensor, unlike Trainer's default), linear decay, no warmup, batch 16,
     20 epochs, clip 1.0, bf16 where the hardware has it
  4. after every epoch, generate on dev and keep the model if dev micro-F1 is strictly better
  5. evaluate the best model on test+hard once and score all views
  6. write the run folder: config.yaml, run_info.json, dev_curve.{json,csv}, eval/, metrics.json,
     best_model/ (with a model card), or only the metrics when save_model is false
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import random
import shutil
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from fsa_distill.config import StrictConfig, dump_config
from fsa_distill.evaluation.evaluate import DecodeSettings

log = logging.getLogger(__name__)


class TrainSettings(StrictConfig):
    learning_rate: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    adam_epsilon: float = Field(1e-6, gt=0)
    batch_size: int = Field(16, gt=0)
    epochs: float = Field(20, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use epochs)")
    max_grad_norm: float = 1.0
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    lr_scheduler: Literal["linear", "constant", "cosine"] = "linear"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    data_fraction: float = Field(1.0, gt=0, le=1, description="the reference's low-resource -p option")
    train_limit: int | None = Field(None, gt=0, description="first N training sentences (tests, demos)")
    dev_limit: int | None = Field(None, gt=0)
    eval_every_epochs: int = Field(1, gt=0)
    logging_steps: int = 50
    length_grouping: bool = Field(False, description="batch sentences of similar length (less padding, "
                                  "faster on CPU); the reference samples batches at random")


class FinetuneConfig(StrictConfig):
    model: str = Field("tiny", description="student: preset name, local folder or hub id")
    label: str | None = Field(None, description="the student's name in reports (default: model)")
    task: Literal["atsa", "acsa"] = "atsa"
    dataset: str = "rest14"
    data_dir: str | None = None
    seed: int = 42
    output_dir: str = "runs/finetune/{task}-{dataset}-seed{seed}"
    save_model: bool = Field(True, description="false: keep only metrics and predictions (saves disk)")
    test_limit: int | None = Field(None, gt=0, description="evaluate on the first N test+hard sentences")
    views: list[str] = ["normal", "test", "hard", "implicit", "multi"]
    train: TrainSettings = TrainSettings()
    decode: DecodeSettings = DecodeSettings()

    def run_dir(self) -> Path:
        return Path(self.output_dir.format(task=self.task, dataset=Path(self.dataset).name, seed=self.seed))


def build_pairs(task: str, examples) -> tuple[list[str], list[str]]:
    from fsa_distill.benchmark.targets import make_target

    return [e.sentence for e in examples], [make_target(task, e) for e in examples]


def tokenize_pairs(tokenizer, sources: list[str], targets: list[str]):
    """No truncation and per-batch padding, as the reference (max_seq_length -1)."""
    import datasets

    from fsa_distill.student.models import to_model_text

    enc = tokenizer([to_model_text(s) for s in sources])
    labels = tokenizer(text_target=[to_model_text(t) for t in targets])["input_ids"]
    return datasets.Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                                       "labels": labels})


def use_bf16(precision: str) -> bool:
    import torch

    if precision == "fp32":
        return False
    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not available:
        log.warning("bf16 requested but this device has no bf16 support: training in fp32")
    return available


def sampling_args(group_by_length: bool) -> dict:
    """Trainer arguments for the batch sampler: transformers 5 names a strategy, 4.x has a flag."""
    if not group_by_length:
        return {}
    from transformers import Seq2SeqTrainingArguments

    fields = Seq2SeqTrainingArguments.__dataclass_fields__
    if "train_sampling_strategy" in fields:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def environment_info() -> dict:
    import torch
    import transformers

    from fsa_distill import __version__

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"
    return {"fsa_distill": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device,
            "cpu_threads": torch.get_num_threads(), "host": platform.node()}


class DevSelection:
    """Generates on dev after each epoch; keeps the best model by dev micro-F1 (strict >)."""

    def __init__(self, cfg: FinetuneConfig, tokenizer, dev_examples, best_dir: Path | None, progress: bool):
        from transformers import TrainerCallback

        self.cfg, self.tokenizer, self.dev, self.best_dir, self.progress = cfg, tokenizer, dev_examples, best_dir, progress
        self.best_f1 = -1.0
        self.best_epoch = None
        self.best_state = None  # in-memory copy when the model is not saved to disk
        self.curve: list[dict] = []
        self.eval_seconds = 0.0
        selection = self

        class _Callback(TrainerCallback):
            def on_epoch_end(self, args, state, control, model=None, **kw):
                epoch = round(state.epoch or 0)
                if epoch % cfg.train.eval_every_epochs == 0 or state.global_step >= state.max_steps:
                    selection.evaluate(model, state)

        self.callback = _Callback()

    def evaluate(self, model, state) -> None:
        from fsa_distill.benchmark.scoring import score
        from fsa_distill.evaluation.evaluate import generate_predictions

        t0 = time.perf_counter()
        preds, _ = generate_predictions(model, self.tokenizer, [e.sentence for e in self.dev], self.cfg.decode,
                                        self.cfg.task, self.progress, desc=f"dev epoch {state.epoch:.0f}")
        m = score(self.cfg.task, self.dev, preds, bootstrap=0)
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        point = {"epoch": round(state.epoch, 3), "step": state.global_step, "dev_precision": m["precision"],
                 "dev_recall": m["recall"], "dev_f1": m["f1"], "train_loss": losses[-1] if losses else None}
        improved = m["f1"] > self.best_f1
        point["best"] = improved
        self.curve.append(point)
        if improved:
            self.best_f1, self.best_epoch = m["f1"], point["epoch"]
            if self.best_dir is not None:
                model.save_pretrained(self.best_dir, safe_serialization=True)
                self.tokenizer.save_pretrained(self.best_dir)
            else:
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        self.eval_seconds += time.perf_counter() - t0
        log.info("epoch %s dev F1 %.2f%s", point["epoch"], 100 * m["f1"], " (best)" if improved else "")


def write_curve(run_dir: Path, curve: list[dict]) -> None:
    (run_dir / "dev_curve.json").write_text(json.dumps(curve, indent=2), encoding="utf-8")
    if curve:
        with open(run_dir / "dev_curve.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(curve[0]))
            w.writeheader()
            w.writerows(curve)


def write_model_card(model_dir: Path, cfg: FinetuneConfig, base_meta: dict, metrics: dict, info: dict) -> None:
    from fsa_distill.student.models import META_FILE

    scores = {v: {k: m[k] for k in ("precision", "recall", "f1")} for v, m in metrics.items() if not v.startswith("_")}
    teacher = base_meta.get("teacher")
    meta = {"kind": "finetuned", "task": cfg.task, "dataset": cfg.dataset, "seed": cfg.seed,
            "base_model": cfg.model, "base_model_meta": base_meta, "teacher": teacher,
            "best_epoch": info.get("best_epoch"), "dev_f1": info.get("best_dev_f1"), "scores": scores,
            "decode": cfg.decode.model_dump()}
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    what = "aspect-term sentiment (ATSA): `term | polarity ; ...`" if cfg.task == "atsa" else \
        "aspect-category sentiment (ACSA): `category | polarity ; ...`"
    rows = "\n".join(f"| {v} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | {100 * s['f1']:.2f} |"
                     for v, s in scores.items())
    card = f"""---
library_name: transformers
tags: [fsa-distill, aspect-based-sentiment-analysis, {cfg.task}]
---
# {cfg.task.upper()} {cfg.dataset} student (seed {cfg.seed})

Fine-tuned with [fsa-distill](https://github.com/) for {what}.

- base model: `{cfg.model}`{f" (distilled from teacher `{teacher}`)" if teacher else ""}
- task / dataset: {cfg.task} / {cfg.dataset}; seed {cfg.seed}; best epoch {info.get('best_epoch')} by dev micro-F1 ({100 * (info.get('best_dev_f1') or 0):.2f})
- training: lr {cfg.train.learning_rate}, batch {cfg.train.batch_size}, epochs {cfg.train.epochs}, weight decay {cfg.train.weight_decay}
- decoding: greedy max_length {cfg.decode.max_length}{", span-grounded" if cfg.decode.grounding else ""}

Scores (reference micro-F1; `normal` = test + hard_test is comparable with the reference release):

| view | P | R | F1 |
|---|---|---|---|
{rows}

```python
from fsa_distill import SentimentAnalyzer
sa = SentimentAnalyzer.from_pretrained("{model_dir}")
sa.predict("The pasta was great but the waiter was rude.")
```
"""
    (model_dir / "README.md").write_text(card, encoding="utf-8")


def finished_run(cfg: FinetuneConfig) -> dict | None:
    """The stored result of a finished run with exactly this config, else None."""
    import yaml

    run_dir = cfg.run_dir()
    files = [run_dir / n for n in ("config.yaml", "metrics.json", "run_info.json")]
    if not all(f.exists() for f in files):
        return None
    if yaml.safe_load(files[0].read_text(encoding="utf-8")) != cfg.model_dump(mode="json"):
        return None
    return {"run_dir": str(run_dir), "metrics": json.loads(files[1].read_text(encoding="utf-8")),
            "info": json.loads(files[2].read_text(encoding="utf-8")), "skipped": True}


def check_inputs(cfg: FinetuneConfig) -> None:
    """Everything the run will need, checked before the model loads: the views and the test
    files they read (needed only after training, so a typo there used to cost the whole
    training), the output folder and the student's folder."""
    from fsa_distill.benchmark.views import canonical_view, load_views
    from fsa_distill.resources import check_output_dir
    from fsa_distill.student.models import check_model_spec

    for view in cfg.views:
        canonical_view(view)
    check_output_dir(cfg.run_dir(), "output_dir")
    check_model_spec(cfg.model)
    load_views(cfg.task, cfg.dataset, cfg.data_dir)  # test.json and hard_test.json, parsed


def finetune(cfg: FinetuneConfig, progress: bool = True) -> dict:
    """Run one fine-tuning; a finished run with the same config is returned without redoing it."""
    check_inputs(cfg)
    done = finished_run(cfg)
    if done is not None:
        log.info("%s: finished with the same config, skipping", done["run_dir"])
        return done
    import torch
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, set_seed

    from fsa_distill.benchmark.data import load_split
    from fsa_distill.evaluation.evaluate import evaluate_views
    from fsa_distill.student.models import count_parameters, load_student, read_meta, resolve_model

    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").unlink(missing_ok=True)  # an interrupted or different earlier run
    dump_config(cfg, run_dir / "config.yaml")
    timing: dict[str, float] = {}
    t0 = time.perf_counter()

    # 1. data
    train = load_split(cfg.task, cfg.dataset, "train", cfg.data_dir)
    dev = load_split(cfg.task, cfg.dataset, "dev", cfg.data_dir)
    if cfg.train.data_fraction < 1:
        train = random.Random(cfg.seed).sample(train, max(1, int(len(train) * cfg.train.data_fraction)))
    train = train[:cfg.train.train_limit] if cfg.train.train_limit else train
    dev = dev[:cfg.train.dev_limit] if cfg.train.dev_limit else dev

    # 2. student
    set_seed(cfg.seed)
    model, tokenizer = load_student(cfg.model)
    base_meta = read_meta(resolve_model(cfg.model))
    train_ds = tokenize_pairs(tokenizer, *build_pairs(cfg.task, train))
    timing["load_s"] = time.perf_counter() - t0

    # 3. training, 4. model selection on dev
    best_dir = run_dir / "best_model" if cfg.save_model else None
    selection = DevSelection(cfg, tokenizer, dev, best_dir, progress)
    bf16 = use_bf16(cfg.train.precision)
    args = Seq2SeqTrainingArguments(
        output_dir=str(run_dir / "trainer"), per_device_train_batch_size=cfg.train.batch_size,
        num_train_epochs=cfg.train.epochs, max_steps=cfg.train.max_steps, learning_rate=cfg.train.learning_rate,
        lr_scheduler_type=cfg.train.lr_scheduler, warmup_steps=cfg.train.warmup_ratio,  # a float < 1 is a ratio
        max_grad_norm=cfg.train.max_grad_norm, bf16=bf16, seed=cfg.seed, eval_strategy="no", save_strategy="no",
        logging_steps=cfg.train.logging_steps, report_to=[], disable_tqdm=not progress,
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False, **sampling_args(cfg.train.length_grouping))
    # The reference decays every parameter (no bias/LayerNorm exclusion): build the optimizer ourselves.
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.learning_rate,
                                  weight_decay=cfg.train.weight_decay, eps=cfg.train.adam_epsilon)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train_ds,
                             data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
                             processing_class=tokenizer, optimizers=(optimizer, None),
                             callbacks=[selection.callback])
    t1 = time.perf_counter()
    train_out = trainer.train()
    timing["train_s"] = time.perf_counter() - t1 - selection.eval_seconds
    timing["dev_eval_s"] = selection.eval_seconds
    if not selection.curve:  # fewer steps than one epoch: still select on dev once
        selection.evaluate(trainer.model, trainer.state)
    write_curve(run_dir, selection.curve)

    # 5. evaluate the best model on every view
    if best_dir is not None:
        model, tokenizer = load_student(str(best_dir))
    else:
        model.load_state_dict(selection.best_state)
    model.to(trainer.args.device)
    t2 = time.perf_counter()
    results = evaluate_views(model, tokenizer, cfg.task, cfg.dataset, run_dir / "eval", decode=cfg.decode,
                             views=cfg.views, data_dir=cfg.data_dir, limit=cfg.test_limit, progress=progress)
    timing["test_eval_s"] = time.perf_counter() - t2
    timing["total_s"] = time.perf_counter() - t0

    # 6. run record
    metrics = {v: m for v, m in results.items() if not v.startswith("_")}
    info = {"kind": "finetune", "label": cfg.label or cfg.model, "task": cfg.task, "dataset": cfg.dataset,
            "seed": cfg.seed, "model": cfg.model,
            "data_fraction": cfg.train.data_fraction,
            "parameters": count_parameters(model), "train_sentences": len(train), "dev_sentences": len(dev),
            "steps": trainer.state.global_step, "train_loss": train_out.training_loss, "bf16": bf16,
            "best_epoch": selection.best_epoch, "best_dev_f1": selection.best_f1, "timing": timing,
            "generation": results["_timing"], "unavailable_views": results.get("_unavailable", {}),
            "environment": environment_info()}
    if best_dir is not None:
        write_model_card(best_dir, cfg, base_meta, metrics, info)
    (run_dir / "run_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")  # last: "done"
    shutil.rmtree(run_dir / "trainer", ignore_errors=True)  # Trainer's scratch folder: nothing kept there
    return {"run_dir": str(run_dir), "metrics": metrics, "info": info}
