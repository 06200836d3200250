"""`fsa-distill zeroshot`: sentence/review polarity with a model never fine-tuned on the task.

A student (seq2seq) is measured two ways, and both are reported:

  label-words  the log-likelihood of each verbalizer ("positive", "negative") as the decoder
               target, under an input template (default none: the raw review, which is exactly
               what the student saw in distillation). The larger wins. Beside accuracy, the
               ROC AUC of the margin (positive minus negative) says whether the scores rank
               the items at all, apart from the threshold: a student that answers one label
               everywhere scores the majority's accuracy whichever way its AUC goes.
  analysis     the student writes its analysis (decoding is started with "Opinion Target 1:" so it
               writes an analysis rather than a rewrite, the other half of its training), every
               "Sentiment: <label>" it states is mapped to a grade (very positive +2, positive +1,
               mild positive +0.5, neutral / mixed 0, mild negative -0.5, negative -1, very
               negative -2) and the sign of the sum is the polarity. A zero sum or no readable
               sentiment is "undecided": by default it falls back to the label-word answer, or
               (fallback: undecided) it stays undecided and counts as wrong. Both are counted.

An LLM (`--backend ...`, the teacher's backends) is asked the question directly (llm_prompts) and
its answer parsed; unparseable answers are "undecided" (wrong) and counted. Same items, same
metrics, so the teacher and the student compare on equal terms.

Data: `sst2` / `yelp2` (shipped; split test by default) or any JSON array / JSONL file of
{"sentence", "label"} records. `limit` takes a seeded random subset (the same seed and limit give
the same items for every model).

Data loading (sst2, yelp2, teacher-heldout, a file) is in zeroshot_data.py, the student scorers
(label words, analyses) and the metrics in zeroshot_scorers.py; this module holds the config and
the run.

Run folder: config.yaml, run_info.json (kind "zeroshot"), metrics.json ({method: {accuracy,
macro_f1, n, undecided, ...}}) and predictions_<method>.jsonl holding each item's gold label,
prediction and the raw material it came from (scores, generated analysis, raw LLM answer).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from fsa_distill import runs
from fsa_distill.config import Renamed, StrictConfig
from fsa_distill.errors import FsaError
from fsa_distill.evaluation.llm_backend import (
    LLMGeneration,
    check_backend_section,
    completion_record,
    slug,
)
from fsa_distill.evaluation.zeroshot_data import (  # noqa: F401  (Item: the items a run scores)
    TEACHER_HELDOUT,
    Item,
    load_items,
    select,
    teacher_heldout,
)
from fsa_distill.evaluation.zeroshot_scorers import (
    UNDECIDED,
    AnalysisSettings,
    LabelWordSettings,
    aggregate,
    classification_metrics,
    decide_by_scores,
    generate_analyses,
    label_word_scores,
    margin_ranking,
    teacher_agreement,
)
from fsa_distill.teacher.config import BackendConfig

METHODS = ("label-words", "analysis")


class ZeroShotConfig(StrictConfig):
    renamed = {"output": Renamed("output_dir")}

    dataset: str = "sst2"
    split: str = "test"
    limit: Optional[int] = Field(None, ge=1)
    seed: int = 0
    model: Optional[str] = None          # a student: preset, folder or hub id
    label: Optional[str] = None          # the system's name in reports (default: the model)
    backend: Optional[BackendConfig] = None  # or an LLM through a teacher backend
    methods: list[Literal["label-words", "analysis"]] = list(METHODS)  # student only
    label_words: LabelWordSettings = LabelWordSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    generation: LLMGeneration = LLMGeneration(max_tokens=16)  # LLM only
    output_dir: Optional[str] = None  # default runs/zeroshot/<dataset>-<split>-<model>

    @model_validator(mode="before")
    @classmethod
    def _backend(cls, data):
        return check_backend_section(data)

    @model_validator(mode="after")
    def _one_system(self):
        if (self.model is None) == (self.backend is None):
            raise ValueError("give exactly one of model (a student) or backend (an LLM)")
        return self

    @field_validator("methods")
    @classmethod
    def _methods(cls, v):
        if not v:
            raise ValueError("at least one method")
        return list(dict.fromkeys(v))


# ------------------------------------------------------------------------------------------ runs
def generative_student(spec: str):
    """(model, tokenizer) of a generative student, through the one Student interface."""
    from fsa_distill.inference.student import load
    from fsa_distill.models import default_device

    student = load(spec, device=default_device())
    if student.family != "generative":
        raise FsaError(f"model {spec!r}: zero-shot classification scores label words and reads generated "
                       "analyses, which an extractive student (a tagger) cannot write; use a generative student")
    return student.model, student.tokenizer


def run_student(cfg: ZeroShotConfig, items: list[Item], out: Path, progress: bool) -> tuple[dict, dict]:
    import torch

    from fsa_distill.models import count_parameters

    torch.manual_seed(cfg.seed)  # decoding is greedy; this only pins anything a custom model samples
    model, tokenizer = generative_student(cfg.model)
    texts = [it.sentence for it in items]
    gold = [it.label for it in items]
    metrics, timing = {}, {}
    scores: Optional[list[dict]] = None

    def word_scores(subset: list[int]) -> dict[int, dict]:
        t = time.perf_counter()
        got = label_word_scores(model, tokenizer, [texts[i] for i in subset], cfg.label_words, progress)
        timing["label_words_s"] = timing.get("label_words_s", 0) + time.perf_counter() - t
        return dict(zip(subset, got))

    if "label-words" in cfg.methods:
        scores_by = word_scores(list(range(len(items))))
        scores = [scores_by[i] for i in range(len(items))]
        preds = [decide_by_scores(s) for s in scores]
        runs.write_jsonl(out / "predictions_label-words.jsonl", [
            {"id": it.id, "sentence": it.sentence, "label": it.label, "prediction": p, "scores": s}
            for it, p, s in zip(items, preds, scores)])
        metrics["label-words"] = classification_metrics(gold, preds)
        metrics["label-words"]["margin"] = margin_ranking(gold, scores)

    if "analysis" in cfg.methods:
        t = time.perf_counter()
        analyses = generate_analyses(model, tokenizer, [cfg.analysis.template.format(text=t) for t in texts],
                                     cfg.analysis, progress)
        timing["analysis_generate_s"] = time.perf_counter() - t
        agg = [aggregate(a) for a in analyses]
        undecided = [i for i, a in enumerate(agg) if a["decision"] == UNDECIDED]
        fallback: dict[int, dict] = {}
        if cfg.analysis.fallback == "label-words" and undecided:
            fallback = {i: scores[i] for i in undecided} if scores is not None else word_scores(undecided)
        rows, preds = [], []
        for i, (it, a, text) in enumerate(zip(items, agg, analyses)):
            decided_by, pred = "analysis", a["decision"]
            if pred == UNDECIDED:
                decided_by = "label-words" if i in fallback else "undecided"
                pred = decide_by_scores(fallback[i]) if i in fallback else UNDECIDED
            preds.append(pred)
            rows.append({"id": it.id, "sentence": it.sentence, "label": it.label, "prediction": pred,
                         "decided_by": decided_by, "generation": text, "sentiments": a["labels"],
                         "grades": a["grades"], "total": a["total"],
                         **({"fallback_scores": fallback[i]} if i in fallback else {})})
        runs.write_jsonl(out / "predictions_analysis.jsonl", rows)
        m = classification_metrics(gold, preds)
        # `undecided` above is what stayed undecided; these say how the analysis itself fared.
        m["analysis_undecided"] = len(undecided)
        m["fallback_to_label_words"] = len(fallback)
        m["no_sentiment_stated"] = sum(1 for a in agg if not any(g is not None for g in a["grades"]))
        metrics["analysis"] = m
    info = {"system": "student", "parameters": count_parameters(model), "timing": timing}
    return metrics, info


def run_llm(cfg: ZeroShotConfig, items: list[Item], out: Path, progress: bool) -> tuple[dict, dict]:
    from fsa_distill.evaluation.llm_backend import run_prompts
    from fsa_distill.evaluation.llm_prompts import parse_polarity, polarity_prompt
    from fsa_distill.teacher.backends import make_backend

    backend = make_backend(cfg.backend)
    prompts = [polarity_prompt(it.sentence, backend.mode) for it in items]
    t = time.perf_counter()
    completions = run_prompts(backend, prompts, cfg.generation, progress, desc=f"zeroshot {cfg.dataset}")
    elapsed = time.perf_counter() - t
    rows, preds = [], []
    no_answer = 0
    for it, c in zip(items, completions):
        failed = c.finish_reason in ("error", "no_recording") or not c.text.strip()
        no_answer += failed
        pred = (None if failed else parse_polarity(c.text)) or UNDECIDED
        preds.append(pred)
        rows.append({"id": it.id, "sentence": it.sentence, "label": it.label, "prediction": pred,
                     **completion_record(c)})
    runs.write_jsonl(out / "predictions_llm.jsonl", rows)
    m = classification_metrics([it.label for it in items], preds)
    m["no_answer"] = no_answer  # of `undecided`: empty answers or failed requests
    m["unparseable"] = m["undecided"] - no_answer
    p0 = prompts[0] if prompts else None
    info = {"system": "llm", "mode": backend.mode, "backend": backend.describe(), "timing": {"llm_s": elapsed},
            "prompt_example": (list(p0.messages) if p0.messages else p0.text) if p0 else None}
    return {"llm": m}, info


def zeroshot(cfg: ZeroShotConfig, progress: bool = True) -> dict:
    items = select(load_items(cfg.dataset, cfg.split), cfg.limit, cfg.seed)
    model_id = cfg.model if cfg.model is not None else (cfg.backend.teacher or getattr(cfg.backend, "model", None)
                                                        or getattr(cfg.backend, "model_path", "llm"))
    out = Path(cfg.output_dir) if cfg.output_dir else \
        Path("runs") / "zeroshot" / f"{slug(Path(cfg.dataset).stem)}-{cfg.split}-{slug(model_id)}"
    out.mkdir(parents=True, exist_ok=True)
    runs.write_config(cfg, out)
    if cfg.model is not None:
        metrics, extra = run_student(cfg, items, out, progress)
    else:
        metrics, extra = run_llm(cfg, items, out, progress)
        model_id = extra["backend"].get("teacher") or model_id
    if cfg.dataset == TEACHER_HELDOUT:  # does it match its teacher, on the same items
        teacher = teacher_heldout()[1]
        chosen = {it.id for it in items}
        teacher = [t for t in teacher if t["id"] in chosen]
        for method in list(metrics):
            rows = (out / f"predictions_{method}.jsonl").read_text(encoding="utf-8").splitlines()
            preds = {r["id"]: r["prediction"] for r in map(json.loads, filter(None, rows))}
            metrics[method]["teacher_agreement"] = teacher_agreement(teacher, preds)
    info = {"kind": "zeroshot", "model": model_id, "label": cfg.label, "seed": cfg.seed, "task": "sentiment-classification",
            "dataset": cfg.dataset, "split": cfg.split, "n": len(items), "methods": list(metrics), **extra}
    runs.write_run_record(out, info, metrics)
    return {"output": str(out), "metrics": metrics, "info": info}
