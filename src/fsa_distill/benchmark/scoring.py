"""The reference metric (docs/reference.md §3): micro P/R/F1 over (sentence, pair) items with *list* semantics.

    P = #pred items whose pair is among that sentence's gold pairs / #pred items  (1 if no preds)
    R = #gold items whose pair is among that sentence's predicted pairs / #gold items (1 if no gold)

Duplicates are not removed, so predicting a correct pair twice counts twice for precision. We
keep that, and add beside it (never instead of it) per-polarity scores and a bootstrap confidence
interval for F1 computed by resampling sentences.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fsa_distill.benchmark.data import POLARITIES, Example
from fsa_distill.benchmark.targets import gold_pairs, parse_pairs

Pair = tuple[str, str]


def _counts(gold: Sequence[Sequence[Pair]], pred: Sequence[Sequence[Pair]]) -> np.ndarray:
    """Per sentence: [pred items that hit, #pred, gold items that are hit, #gold]."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predictions")
    rows = np.zeros((len(gold), 4), dtype=np.int64)
    for i, (g, p) in enumerate(zip(gold, pred)):
        gs, ps = set(g), set(p)
        rows[i] = (sum(x in gs for x in p), len(p), sum(x in ps for x in g), len(g))
    return rows


def _prf(tp_p: float, n_pred: float, tp_r: float, n_gold: float) -> tuple[float, float, float]:
    precision = tp_p / n_pred if n_pred else 1.0
    recall = tp_r / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def bootstrap_f1(rows: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI for micro-F1, resampling sentences with replacement."""
    if len(rows) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), size=(n, len(rows)))
    sums = rows[idx].sum(axis=1).astype(float)  # (n, 4)
    p = np.divide(sums[:, 0], sums[:, 1], out=np.ones(n), where=sums[:, 1] > 0)
    r = np.divide(sums[:, 2], sums[:, 3], out=np.ones(n), where=sums[:, 3] > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros(n), where=(p + r) > 0)
    lo, hi = np.quantile(f, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def score_pairs(gold: Sequence[Sequence[Pair]], pred: Sequence[Sequence[Pair]], *,
                bootstrap: int = 1000, seed: int = 0) -> dict:
    rows = _counts(gold, pred)
    tp_p, n_pred, tp_r, n_gold = rows.sum(axis=0).tolist()
    precision, recall, f1 = _prf(tp_p, n_pred, tp_r, n_gold)
    result = {"precision": precision, "recall": recall, "f1": f1,
              "n_sentences": len(rows), "n_gold": n_gold, "n_pred": n_pred}
    per_pol = {}
    for pol in POLARITIES:
        g = [[x for x in s if x[1] == pol] for s in gold]
        p = [[x for x in s if x[1] == pol] for s in pred]
        r = _counts(g, p).sum(axis=0).tolist()
        if r[1] == 0 and r[3] == 0:
            continue
        pp, rr, ff = _prf(*r)
        per_pol[pol] = {"precision": pp, "recall": rr, "f1": ff, "n_gold": r[3], "n_pred": r[1]}
    result["per_polarity"] = per_pol
    if bootstrap:
        lo, hi = bootstrap_f1(rows, n=bootstrap, seed=seed)
        result["f1_ci95"] = [lo, hi]
    return result


def score(task: str, examples: Sequence[Example], predictions: Sequence[str], **kw) -> dict:
    """Score raw generated strings against examples, in the same order."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    gold = [gold_pairs(task, ex) for ex in examples]
    pred = [parse_pairs(task, p, ex.sentence) for ex, p in zip(examples, predictions)]
    return score_pairs(gold, pred, **kw)
