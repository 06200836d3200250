"""`fsa-distill zeroshot`: sentence/review polarity with a model never fine-tuned on the task.

A student (seq2seq) is measured two ways, and both are reported:

  label-words  the log-likelihood of each verbalizer ("positive", "negative") as the decoder
               target, under an input template (default none: the raw review, which is exactly
               what the student saw in distillation). The larger wins.
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

Run folder: config.yaml, run_info.json (kind "zeroshot"), metrics.json ({method: {accuracy,
macro_f1, n, undecided, ...}}) and predictions_<method>.jsonl holding each item's gold label,
prediction and the raw material it came from (scores, generated analysis, raw LLM answer).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from fsa_distill import runs
from fsa_distill.config import Renamed, StrictConfig
from fsa_distill.errors import FsaError
from fsa_distill.teacher.text import sentiment_value  # the teacher's graded labels -> numbers
from fsa_distill.evaluation.llm_backend import (
    LLMGeneration,
    check_backend_section,
    completion_record,
    slug,
)
from fsa_distill.teacher.config import BackendConfig

LABELS = ("positive", "negative")
UNDECIDED = "undecided"
SHIPPED = {"sst2": ("test", "val"), "yelp2": ("test", "val", "train")}
METHODS = ("label-words", "analysis")


# ------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class Item:
    id: int        # position in the source file, so any prediction can be found in the data
    sentence: str
    label: str


def _label(raw, where: str) -> str:
    # 1/0 is how SST-2 and Yelp-2 are distributed elsewhere (Hugging Face datasets).
    if isinstance(raw, bool):
        raise FsaError(f"{where}: label: expected positive or negative (got {raw!r})")
    if raw in (1, 0):
        return "positive" if raw == 1 else "negative"
    if isinstance(raw, str) and raw.strip().lower() in LABELS:
        return raw.strip().lower()
    raise FsaError(f"{where}: label: expected positive or negative (or 1/0) (got {raw!r})")


def parse_items(records, path: str) -> list[Item]:
    items = []
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict):
            raise FsaError(f"{where}: expected an object with sentence and label (got {type(rec).__name__})")
        for key in ("sentence", "label"):
            if key not in rec:
                raise FsaError(f"{where}: missing {key!r}")
        if not isinstance(rec["sentence"], str) or not rec["sentence"].strip():
            raise FsaError(f"{where}: sentence: expected a non-empty string")
        items.append(Item(i, rec["sentence"], _label(rec["label"], where)))
    if not items:
        raise FsaError(f"{path}: no records")
    return items


def read_records(path: Path) -> list:
    """A JSON array or JSON lines (plain or .gz), bounded; errors name the file and line."""
    from fsa_distill.resources import read_json_records

    return [rec for _, rec in read_json_records(path)]


# The held-out reviews of the shipped teacher sample, labelled by their star rating: the items of
# "does the student match its teacher" (issue 23, H5). The same 50 reviews every evidence
# pretraining holds out (validation_holdout 50 with holdout seed 42), so no distilled student has
# trained on them; 4-5 stars positive, 1-2 negative, 3 left out.
TEACHER_HELDOUT = "teacher-heldout"
HELDOUT_REVIEWS, HELDOUT_SEED = 50, 42


def star_label(stars) -> Optional[str]:
    if not isinstance(stars, (int, float)) or isinstance(stars, bool):
        return None
    return "positive" if stars >= 4 else "negative" if stars <= 2 else None


def teacher_heldout(n_reviews: int = HELDOUT_REVIEWS, seed: int = HELDOUT_SEED) -> tuple[list[Item], list[dict]]:
    """(items, teacher rows) of the held-out shipped reviews with a 1-2 or 4-5 star rating. A
    teacher row per item: its analysis of that review (None where it wrote only a rewrite) and the
    overall sentiment read from it (`aggregate`: the sign of the summed graded sentiments)."""
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.teacher.corpus_records import review_key, split_holdout
    from fsa_distill.teacher.corpus_records import read_records as read_corpus

    path = teacher_sample_path()
    _, held = split_holdout(read_corpus([path]), n_reviews, seed)
    held_keys = {review_key(r.text) for r in held}
    reviews: dict[str, dict] = {}
    for n, rec in enumerate(read_records(path)):
        text = rec.get("Text")
        if not isinstance(text, str) or review_key(text) not in held_keys:
            continue
        row = reviews.setdefault(review_key(text), {"text": text, "stars": rec.get("Overall"), "analysis": None})
        response = rec.get("mixtral_response") or ""
        if row["analysis"] is None and response.lstrip().startswith("Opinion Target"):
            row["analysis"] = response
    items, teacher = [], []
    for key in sorted(reviews):
        row = reviews[key]
        label = star_label(row["stars"])
        if label is None:
            continue
        items.append(Item(len(items), row["text"], label))
        decision = aggregate(row["analysis"])["decision"] if row["analysis"] else None
        teacher.append({"id": items[-1].id, "stars": row["stars"], "label": label, "has_analysis": bool(row["analysis"]),
                        "teacher": decision})
    return items, teacher


def teacher_agreement(teacher: list[dict], predictions: Optional[dict[int, str]] = None) -> dict:
    """The teacher against the star ratings (over the items it analysed; an undecided analysis is
    wrong, as for any method), and, given a student's {item id: prediction}, how often the student
    answers what the teacher answered (over the items where the teacher decided)."""
    rated = [t for t in teacher if t["has_analysis"]]
    out = {"items": len(teacher), "analysed": len(rated),
           "teacher_vs_stars": classification_metrics([t["label"] for t in rated], [t["teacher"] for t in rated])
           if rated else None}
    if predictions is not None:
        decided = [t for t in rated if t["teacher"] != UNDECIDED and t["id"] in predictions]
        same = sum(predictions[t["id"]] == t["teacher"] for t in decided)
        out["student_matches_teacher"] = {"n": len(decided), "agree": same,
                                          "agreement": same / len(decided) if decided else None}
        # the same student on the same items against the stars, for the side-by-side table
        out["student_vs_stars_on_analysed"] = classification_metrics(
            [t["label"] for t in rated], [predictions.get(t["id"], UNDECIDED) for t in rated]) if rated else None
    return out


def load_items(dataset: str, split: str = "test") -> list[Item]:
    from fsa_distill.resources import sentiment_classification_path

    if dataset == TEACHER_HELDOUT and not Path(dataset).exists():
        return teacher_heldout()[0]
    if dataset in SHIPPED and not Path(dataset).exists():
        if split not in SHIPPED[dataset]:
            raise FsaError(f"{dataset}: no split {split!r} (shipped: {', '.join(SHIPPED[dataset])})")
        path = sentiment_classification_path(dataset, split)
        items = parse_items(read_records(path), str(path))
        if dataset == "yelp2":
            # The Yelp polarity files write line breaks as the two characters "\n"; the student was
            # distilled on reviews with real line breaks (written [NL]), so restore them.
            items = [Item(it.id, it.sentence.replace("\\n", "\n"), it.label) for it in items]
        return items
    path = Path(dataset)
    if not path.exists():
        raise FsaError(f"{dataset}: not a shipped dataset ({', '.join(SHIPPED)}) and no such file")
    return parse_items(read_records(path), str(path))


def select(items: list[Item], limit: Optional[int], seed: int) -> list[Item]:
    """A seeded random subset in file order: the first N of a file may be sorted by label."""
    import random

    if not limit or limit >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


# ---------------------------------------------------------------------------------------- config
class LabelWordSettings(StrictConfig):
    template: str = "{text}"            # encoder input; "{text}" = the raw review, as in distillation
    target_template: str = "{word}"      # decoder target; only the word's tokens are scored
    verbalizers: dict[str, list[str]] = {"positive": ["positive"], "negative": ["negative"]}
    reduce: Literal["sum", "mean"] = "sum"  # over a word's tokens; mean evens out multi-token words
    batch_size: int = Field(32, ge=1)
    max_input_tokens: int = Field(512, ge=8)

    @model_validator(mode="after")
    def _check(self):
        if "{text}" not in self.template:
            raise ValueError("template must contain {text}")
        if "{word}" not in self.target_template:
            raise ValueError("target_template must contain {word}")
        if set(self.verbalizers) != set(LABELS) or not all(self.verbalizers.values()):
            raise ValueError("verbalizers: give at least one word for each of positive and negative")
        return self


class AnalysisSettings(StrictConfig):
    # encoder input; "{text}" = the raw review; "analyse: {text}" for a student pretrained with
    # task prefixes (issue 23, H1), so it is asked for an analysis the way it learnt to write one
    template: str = "{text}"
    prefix: str = "Opinion Target 1:"  # forced start of the decoder output; "" lets the student choose
    max_length: int = Field(256, ge=8)  # decoder tokens, prefix included
    num_beams: int = Field(1, ge=1)
    batch_size: int = Field(16, ge=1)
    max_input_tokens: int = Field(512, ge=8)
    fallback: Literal["label-words", "undecided"] = "label-words"

    @model_validator(mode="after")
    def _check(self):
        if "{text}" not in self.template:
            raise ValueError("template must contain {text}")
        return self


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


# ----------------------------------------------------------------------------- student: scoring
def _word_targets(tokenizer, settings: LabelWordSettings) -> list[tuple[str, str, list[int], int]]:
    """(label, word, target ids, index of the word's first token) per verbalizer word."""
    from fsa_distill.decoding.text import to_model_text

    out = []
    for label in LABELS:
        for word in settings.verbalizers[label]:
            full = settings.target_template.format(word=word)
            prefix = full[:full.index(word)].rstrip()
            ids = tokenizer(to_model_text(full), add_special_tokens=False)["input_ids"]
            pre = tokenizer(to_model_text(prefix), add_special_tokens=False)["input_ids"] if prefix else []
            if ids[:len(pre)] != pre or len(ids) == len(pre):
                # The tokenizer merged the prefix's end with the word: score prefix and word apart.
                ids = pre + tokenizer(to_model_text(full[len(prefix):]), add_special_tokens=False)["input_ids"]
            out.append((label, word, ids, len(pre)))
    return out


def label_word_scores(model, tokenizer, texts: list[str], settings: LabelWordSettings,
                      progress: bool = False) -> list[dict[str, float]]:
    """Per text {label: score}: a label's score is the log of the summed likelihoods of its words
    (logsumexp), each word's log-likelihood the sum (or mean) over its tokens."""
    import torch
    from tqdm.auto import tqdm

    from fsa_distill.decoding.text import to_model_text

    targets = _word_targets(tokenizer, settings)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[dict[str, float]] = []
    try:
        with torch.inference_mode():
            for start in tqdm(range(0, len(texts), settings.batch_size), disable=not progress, desc="label words"):
                batch = [to_model_text(settings.template.format(text=t)) for t in texts[start:start + settings.batch_size]]
                enc = tokenizer(batch, padding=True, truncation=True, max_length=settings.max_input_tokens,
                                return_tensors="pt").to(device)
                encoder_out = model.get_encoder()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
                per_word = []
                for _, _, ids, first in targets:
                    labels = torch.tensor([ids] * len(batch), device=device)
                    logits = model(encoder_outputs=encoder_out, attention_mask=enc["attention_mask"],
                                   labels=labels).logits
                    token_lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
                    word_lp = token_lp[:, first:]
                    per_word.append(word_lp.sum(-1) if settings.reduce == "sum" else word_lp.mean(-1))
                stacked = torch.stack(per_word, dim=-1)  # batch x words
                for row in stacked.tolist():
                    scores = {}
                    for label in LABELS:
                        vals = [v for (lab, *_), v in zip(targets, row) if lab == label]
                        m = max(vals)
                        scores[label] = m + math.log(sum(math.exp(v - m) for v in vals))
                    results.append(scores)
    finally:
        model.train(was_training)
    return results


def decide_by_scores(scores: dict[str, float]) -> str:
    if scores["positive"] == scores["negative"]:
        return UNDECIDED
    return max(LABELS, key=lambda lab: scores[lab])


# ---------------------------------------------------------------------------- student: analysis
def generate_analyses(model, tokenizer, texts: list[str], settings: AnalysisSettings,
                      progress: bool = False) -> list[str]:
    """Greedy (or beam) generation with the decoder started on `settings.prefix`. The returned text
    includes the prefix, so the file shows exactly the sequence the student scored highest."""
    from fsa_distill.decoding.generate import generate

    return generate(model, tokenizer, texts, batch_size=settings.batch_size, max_length=settings.max_length,
                    num_beams=settings.num_beams, max_input_length=settings.max_input_tokens,
                    decoder_prefix=settings.prefix, progress=progress, desc="analyses")


_SENTIMENT_LINE = re.compile(r"\bSentiment\s*\d*\s*:\s*([^\n]*)", re.IGNORECASE)
def aggregate(analysis: str) -> dict:
    """{labels, grades, total, decision} for one generated analysis; decision is positive,
    negative or undecided (a zero total, or no readable sentiment at all)."""
    labels = [m.group(1).strip() for m in _SENTIMENT_LINE.finditer(analysis)]
    grades = [sentiment_value(lab) for lab in labels]
    read = [g for g in grades if g is not None]
    total = sum(read)
    decision = UNDECIDED if not read or total == 0 else ("positive" if total > 0 else "negative")
    return {"labels": labels, "grades": grades, "total": total, "decision": decision}


# ---------------------------------------------------------------------------------------- metrics
def _acc_macro_f1(g, p):
    """Accuracy and macro-F1 over positive/negative of label arrays (numpy; rows are resamples)."""
    import numpy as np

    acc = (g == p).mean(-1)
    f1s = []
    for lab in LABELS:
        tp = ((p == lab) & (g == lab)).sum(-1)
        denom = (p == lab).sum(-1) + (g == lab).sum(-1)
        f1s.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return acc, np.mean(f1s, axis=0)


def bootstrap_ci(gold: list[str], pred: list[str], n_boot: int = 1000, seed: int = 0) -> dict:
    """95% percentile CIs of accuracy and macro-F1, resampling items (seeded: the same items and
    predictions give the same interval)."""
    import numpy as np

    if len(gold) < 2:
        return {"accuracy_ci95": None, "macro_f1_ci95": None}
    g, p = np.array(gold, dtype=object), np.array(pred, dtype=object)
    idx = np.random.default_rng(seed).integers(0, len(g), size=(n_boot, len(g)))
    acc, f1 = _acc_macro_f1(g[idx], p[idx])
    q = lambda x: [float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))]  # noqa: E731
    return {"accuracy_ci95": q(acc), "macro_f1_ci95": q(f1)}


def majority_baseline(gold: list[str]) -> dict:
    """Always answering the most frequent gold label of these items (ties: positive): the floor a
    zero-shot classifier must clear."""
    if not gold:
        return {"label": None, "accuracy": None, "macro_f1": None}
    label = max(LABELS, key=lambda lab: (gold.count(lab), lab == "positive"))
    share = gold.count(label) / len(gold)
    # F1 of the majority class is 2s/(1+s); the other class's is 0
    return {"label": label, "accuracy": share, "macro_f1": (2 * share / (1 + share)) / 2}


def classification_metrics(gold: list[str], pred: list[str]) -> dict:
    """Accuracy and macro-F1 over positive/negative; an undecided item is simply wrong (it counts
    against the recall of its gold class), so a method cannot gain by abstaining. With bootstrap
    95% CIs over items and the majority-class baseline of the same items."""
    from sklearn.metrics import accuracy_score, f1_score

    per_class = f1_score(gold, pred, labels=list(LABELS), average=None, zero_division=0)
    confusion = {g: {p: sum(1 for a, b in zip(gold, pred) if a == g and b == p) for p in (*LABELS, UNDECIDED)}
                 for g in LABELS}
    return {"accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, labels=list(LABELS), average="macro", zero_division=0)),
            "f1_per_class": dict(zip(LABELS, map(float, per_class))),
            "n": len(gold), "undecided": sum(p == UNDECIDED for p in pred), "confusion": confusion,
            **bootstrap_ci(gold, pred), "majority": majority_baseline(list(gold))}


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
