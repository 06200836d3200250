"""How a student answers a zero-shot polarity question, and how answers are scored: label-word
log-likelihoods, generated analyses aggregated into a polarity, accuracy / macro-F1 with a
bootstrap CI and the majority baseline."""

from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import Field, model_validator

from fsa_distill.config import StrictConfig
from fsa_distill.evaluation.zeroshot_data import LABELS, UNDECIDED, aggregate  # noqa: F401  (aggregate: a scorer)



# -------------------------------------------------------------------------------------- settings
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


def margin_ranking(gold: list[str], scores: list[dict[str, float]], n_boot: int = 1000, seed: int = 0) -> dict:
    """How well the label-word margin (score of positive minus score of negative) ranks positive items
    above negative ones, apart from where the decision threshold (0) sits: ROC AUC with a bootstrap 95%
    CI over items, and the margin's mean and spread. A student that answers one label for every item
    has accuracy = the majority's; AUC near 0.5 then says its scores carry no polarity signal at all,
    AUC well above 0.5 that the signal is there and only the threshold is off."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    margin = np.array([s["positive"] - s["negative"] for s in scores], dtype=float)
    y = np.array([g == "positive" for g in gold])
    out = {"margin_mean": float(margin.mean()) if len(margin) else None,
           "margin_sd": float(margin.std()) if len(margin) else None, "auc": None, "auc_ci95": None}
    if y.all() or not y.any():  # one class only: no ranking to measure
        return out
    out["auc"] = float(roc_auc_score(y, margin))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), size=len(y))
        if y[idx].all() or not y[idx].any():
            continue
        boots.append(roc_auc_score(y[idx], margin[idx]))
    if boots:
        out["auc_ci95"] = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))]
    return out


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
