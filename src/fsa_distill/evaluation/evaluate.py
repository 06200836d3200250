"""Evaluate a model on every view of a benchmark dataset.

Generation runs once over `normal` (test + hard_test); the other views are subsets of it, so
their predictions are looked up by sentence id instead of generated again. Each view gets a
predictions file (raw generated strings, parsed pairs, gold) and a metrics JSON.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from pydantic import Field

from fsa_distill.benchmark.data import dataset_label
from fsa_distill.benchmark.scoring import score
from fsa_distill.benchmark.targets import gold_pairs, parse_pairs
from fsa_distill.benchmark.views import VIEWS, canonical_view, load_views_and_gaps
from fsa_distill.config import StrictConfig

log = logging.getLogger(__name__)


class DecodeSettings(StrictConfig):
    max_length: int = Field(100, gt=0, description="reference: greedy, max_length 100")
    num_beams: int = Field(1, ge=1)
    batch_size: int = Field(64, gt=0)
    sort_by_length: bool = True
    clean_up_tokenization_spaces: bool | None = None  # None: the tokenizer's own setting
    grounding: bool = False  # map generated terms back to the sentence's exact characters


def generate_predictions(model, tokenizer, sentences: list[str], decode: DecodeSettings, task: str,
                         progress: bool = True, desc: str = "generate") -> tuple[list[str], list[str]]:
    """(final strings, raw strings). Grounding, when on, rewrites terms after generation."""
    from fsa_distill.evaluation.generate import generate

    raw = generate(model, tokenizer, sentences, batch_size=decode.batch_size, max_length=decode.max_length,
                   num_beams=decode.num_beams, sort_by_length=decode.sort_by_length,
                   clean_up=decode.clean_up_tokenization_spaces, progress=progress, desc=desc)
    if not decode.grounding:
        return raw, raw
    from fsa_distill.evaluation.grounding import ground

    return [ground(task, p, s) for p, s in zip(raw, sentences)], raw


def write_predictions(path: Path, task: str, examples, predictions: list[str], raw: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for ex, pred, r in zip(examples, predictions, raw):
            rec = {"id": ex.id, "sentence": ex.sentence, "prediction": pred,
                   "gold": [list(p) for p in gold_pairs(task, ex)],
                   "pred_pairs": [list(p) for p in parse_pairs(task, pred, ex.sentence)],
                   "split": ex.split}
            if r != pred:
                rec["raw_prediction"] = r
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def evaluate_views(model, tokenizer, task: str, dataset: str, out_dir: str | Path, *,
                   decode: DecodeSettings | None = None, views=VIEWS, data_dir=None, limit: int | None = None,
                   progress: bool = True) -> dict:
    """Generate on test+hard once, score every view, write predictions and metrics. Returns
    {view: metrics} plus timing under "_timing" and {view: why} under "_unavailable" for the
    asked views this data cannot give (no opinion words, no hard_test), which are skipped."""
    decode = decode or DecodeSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_views, gaps = load_views_and_gaps(task, dataset, data_dir)
    name = dataset_label(dataset, data_dir)
    gaps = {v: why for v, why in gaps.items() if v in {canonical_view(x) for x in views}}
    for view, why in gaps.items():
        log.warning("%s/%s: view %s skipped, unavailable on this data: %s", task, name, view, why)
    normal = all_views["normal"][:limit] if limit else all_views["normal"]
    t0 = time.perf_counter()
    final, raw = generate_predictions(model, tokenizer, [e.sentence for e in normal], decode, task, progress,
                                      desc=f"{task}/{dataset} test+hard")
    gen_s = time.perf_counter() - t0
    by_id = {e.id: (f, r) for e, f, r in zip(normal, final, raw)}
    results = {}
    for view in dict.fromkeys(canonical_view(v) for v in views):
        examples = [e for e in all_views[view] if e.id in by_id]
        if not examples:  # e.g. `hard` under a test limit; the reference rules would score it F1 = 1
            continue
        preds = [by_id[e.id][0] for e in examples]
        raws = [by_id[e.id][1] for e in examples]
        metrics = score(task, examples, preds)
        metrics.update(task=task, dataset=dataset, dataset_name=name, view=view)
        write_predictions(out_dir / f"predictions_{view}.jsonl", task, examples, preds, raws)
        (out_dir / f"metrics_{view}.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        results[view] = metrics
    results["_timing"] = {"generate_s": gen_s, "sentences": len(normal),
                          "sentences_per_s": len(normal) / gen_s if gen_s else None}
    results["_unavailable"] = gaps
    return results


def summary_rows(results: dict) -> list[tuple]:
    rows = []
    for view, m in results.items():
        if view.startswith("_"):
            continue
        lo, hi = m.get("f1_ci95", (float("nan"), float("nan")))
        rows.append((view, m["n_sentences"], f"{100 * m['precision']:.2f}", f"{100 * m['recall']:.2f}",
                     f"{100 * m['f1']:.2f}", f"[{100 * lo:.1f}, {100 * hi:.1f}]"))
    return rows


SUMMARY_COLUMNS = ("view", "sentences", "P", "R", "F1", "F1 95% CI")
