"""The model cards (README.md) of the folders the student stages write: a pretrained model, and
a fine-tuned best model (whose fsa_distill.json it completes with the run's results)."""

from __future__ import annotations

from pathlib import Path

from fsa_distill import runs
from fsa_distill.models.folder import write_meta
from fsa_distill.student.finetune_config import FinetuneConfig


def write_pretrain_card(folder: Path, meta: dict) -> None:
    """README.md of a pretrained model folder."""
    facts = [f"teacher: {meta.get('teacher') or 'unknown'}", f"corpus: {', '.join(meta.get('corpus') or [])}",
             f"optimizer steps: {meta.get('steps')}"]
    if meta.get("validation_loss") is not None:
        facts.append(f"validation loss: {meta['validation_loss']:.4f}")
    runs.write_model_card(folder, "Distilled sentiment student (fsa-distill)", facts,
                          intro=f"Continued pretraining of `{meta.get('base_model')}` as a seq2seq model from reviews "
                          "to the teacher's sentiment analyses and rewrites (fsa-distill pretrain).")


def write_finetune_card(model_dir: Path, cfg: FinetuneConfig, meta: dict, metrics: dict, info: dict) -> None:
    """The saved best model's fsa_distill.json completed with the run's results (what `load`
    reads: family, task, decode settings, scores) and its README.md."""
    scores = {v: {k: m[k] for k in ("precision", "recall", "f1")} for v, m in metrics.items()}
    base_meta = meta.get("base_model_meta") or {}
    teacher = base_meta.get("teacher")
    write_meta(model_dir, {
        **meta, "kind": "finetuned", "task": cfg.task, "dataset": cfg.dataset, "seed": cfg.seed,
        "base_model": cfg.model, "teacher": teacher, "best_epoch": info.get("best_epoch"),
        "dev_f1": info.get("best_dev_f1"), "converged": info.get("converged"), "scores": scores,
        "decode": cfg.decode.model_dump()})
    what = "aspect-term sentiment (ATSA): `term | polarity ; ...`" if cfg.task == "atsa" else \
        "aspect-category sentiment (ACSA): `category | polarity ; ...`"
    converged = {True: "converged (early stopping)", False: "not converged (stopped at the epoch cap)",
                 None: "no early stopping"}[info.get("converged")]
    facts = [f"family: {meta['family']}; base model: `{cfg.model}`" +
             (f" (distilled from teacher `{teacher}`)" if teacher else ""),
             f"task / dataset: {cfg.task} / {cfg.dataset}; seed {cfg.seed}; best epoch {info.get('best_epoch')} "
             f"by dev micro-F1 ({100 * (info.get('best_dev_f1') or 0):.2f}); {converged}",
             f"training: lr {cfg.train.learning_rate}, batch {cfg.train.batch_size}, epochs {cfg.train.epochs}, "
             f"weight decay {cfg.train.weight_decay}"]
    if meta["family"] == "generative":
        facts.append(f"decoding: greedy max_length {cfg.decode.max_length}" +
                     (", span-grounded" if cfg.decode.grounding else ""))
    usage = f"""```python
from fsa_distill import SentimentAnalyzer
sa = SentimentAnalyzer.from_pretrained("{model_dir}")
sa.predict("The pasta was great but the waiter was rude.")
```"""
    runs.write_model_card(model_dir, f"{cfg.task.upper()} {cfg.dataset} student (seed {cfg.seed})", facts,
                          intro=f"Fine-tuned with [fsa-distill](https://github.com/) for {what}.", scores=scores,
                          front_matter=f"library_name: transformers\ntags: [fsa-distill, aspect-based-sentiment-analysis, "
                          f"{cfg.task}]", usage=usage)
