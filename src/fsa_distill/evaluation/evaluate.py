"""Evaluate a model on every view of a benchmark dataset.

Generation runs once over `normal` (test + hard_test); the other views are subsets of it, so
their predictions are looked up by sentence id instead of generated again. `score_views` is the
one scoring loop over views, for a student (`evaluate_views`) and an LLM (`llm_eval`): each
prediction is parsed once, and each view gets a predictions file (final and raw strings, parsed
pairs, gold) and a metrics JSON.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fsa_distill import runs
from fsa_distill.benchmark.data import dataset_label
from fsa_distill.benchmark.scoring import score_pairs
from fsa_distill.benchmark.targets import gold_pairs, parse_pairs
from fsa_distill.benchmark.views import VIEWS, canonical_view, load_views_and_gaps

log = logging.getLogger(__name__)


@dataclass
class ViewScores:
    metrics: dict[str, dict]                                  # {view: scores}, the content of metrics.json
    timing: dict = field(default_factory=dict)                # generation seconds, sentences, sentences/s
    unavailable: dict[str, str] = field(default_factory=dict)  # {view: why} for views this data cannot give


def score_views(task: str, dataset: str, name: str, views: dict[str, list], predictions: dict, out_dir: Path,
                asked=VIEWS, extra: Callable[[list], dict] = lambda examples: {}) -> dict[str, dict]:
    """Score every asked view over `predictions` ({sentence id: (final string, raw string)}),
    writing predictions_<view>.jsonl and metrics_<view>.json into `out_dir`. A view none of whose
    sentences was predicted (e.g. `hard` under a test limit) is left out: the reference rules
    would score it F1 = 1. `extra(examples)` adds keys to a view's metrics."""
    parsed = {}  # id -> (gold pairs, predicted pairs), parsed once for every view
    for ex in views["normal"]:
        if ex.id in predictions:
            parsed[ex.id] = (gold_pairs(task, ex), parse_pairs(task, predictions[ex.id][0], ex.sentence))
    metrics = {}
    for view in dict.fromkeys(canonical_view(v) for v in asked):
        examples = [e for e in views.get(view, []) if e.id in parsed]
        if not examples:
            continue
        m = score_pairs([parsed[e.id][0] for e in examples], [parsed[e.id][1] for e in examples])
        m.update(task=task, dataset=dataset, dataset_name=name, view=view, **extra(examples))
        runs.write_jsonl(out_dir / f"predictions_{view}.jsonl",
                         (prediction_record(e, predictions[e.id], parsed[e.id]) for e in examples))
        runs.write_json(out_dir / f"metrics_{view}.json", m)
        metrics[view] = m
    return metrics


def prediction_record(ex, prediction: tuple[str, str], pairs: tuple[list, list]) -> dict:
    final, raw = prediction
    rec = {"id": ex.id, "sentence": ex.sentence, "prediction": final, "gold": [list(p) for p in pairs[0]],
           "pred_pairs": [list(p) for p in pairs[1]], "split": ex.split}
    if raw != final:
        rec["raw_prediction"] = raw
    return rec


def evaluate_views(student, task: str, dataset: str, out_dir: str | Path, *, views=VIEWS, data_dir=None,
                   limit: int | None = None, progress: bool = True) -> ViewScores:
    """Analyse test+hard once with `student` (inference.student.Student, either family, decoding
    as it answers users), score every view, write predictions and metrics. The asked views this
    data cannot give (no opinion words, no hard_test) are skipped and named in `unavailable`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_views, gaps = load_views_and_gaps(task, dataset, data_dir)
    name = dataset_label(dataset, data_dir)
    gaps = {v: why for v, why in gaps.items() if v in {canonical_view(x) for x in views}}
    for view, why in gaps.items():
        log.warning("%s/%s: view %s skipped, unavailable on this data: %s", task, name, view, why)
    normal = all_views["normal"][:limit] if limit else all_views["normal"]
    t0 = time.perf_counter()
    done = student.analyse_detailed([e.sentence for e in normal], progress=progress,
                                    desc=f"{task}/{dataset} test+hard")
    gen_s = time.perf_counter() - t0
    predictions = {e.id: (f, r) for e, f, r in zip(normal, done.final, done.raw)}
    metrics = score_views(task, dataset, name, all_views, predictions, out_dir, asked=views)
    timing = {"generate_s": gen_s, "sentences": len(normal), "sentences_per_s": len(normal) / gen_s if gen_s else None,
              "truncated": sum(done.truncated)}
    return ViewScores(metrics, timing, gaps)


def summary_rows(metrics: dict) -> list[tuple]:
    rows = []
    for view, m in metrics.items():
        lo, hi = m.get("f1_ci95", (float("nan"), float("nan")))
        rows.append((view, m["n_sentences"], f"{100 * m['precision']:.2f}", f"{100 * m['recall']:.2f}",
                     f"{100 * m['f1']:.2f}", f"[{100 * lo:.1f}, {100 * hi:.1f}]"))
    return rows


SUMMARY_COLUMNS = ("view", "sentences", "P", "R", "F1", "F1 95% CI")
