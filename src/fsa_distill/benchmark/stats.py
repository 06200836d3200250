"""Per-split and per-view statistics, in the shape of docs/reference.md §2a and §3."""

from __future__ import annotations

from fsa_distill.benchmark.data import POLARITIES, SPLITS, TASK_DATASETS, check_disjoint_ids, load_split
from fsa_distill.benchmark.targets import gold_pairs
from fsa_distill.benchmark.views import VIEWS, select_view, unavailable_views


def split_stats(task: str, examples) -> dict:
    pol = {p: 0 for p in POLARITIES}
    for ex in examples:
        for a in ex.aspects:
            pol[a.polarity] += 1
    return {
        "sentences": len(examples),
        "non_empty": sum(1 for e in examples if e.aspects),
        "aspects": sum(len(e.aspects) for e in examples),
        "implicit_targets": sum(1 for e in examples for a in e.aspects if a.is_implicit),
        "polarity": pol,
        "gold_tuples": sum(len(gold_pairs(task, e)) for e in examples),
    }


def dataset_stats(task: str, dataset: str, data_dir=None) -> dict:
    splits = {s: load_split(task, dataset, s, data_dir) for s in SPLITS}
    check_disjoint_ids(splits["test"], splits["hard_test"])
    out = {"splits": {s: split_stats(task, ex) for s, ex in splits.items()}, "views": {}}
    missing = unavailable_views(splits["test"], splits["hard_test"])
    for v in VIEWS:
        if v in missing:
            out["views"][v] = {"sentences": 0, "gold_tuples": 0, "unavailable": missing[v]}
            continue
        ex = select_view(v, splits["test"], splits["hard_test"])
        out["views"][v] = {"sentences": len(ex), "gold_tuples": sum(len(gold_pairs(task, e)) for e in ex)}
    return out


def all_stats(tasks=None, datasets=None, data_dir=None) -> dict:
    result = {}
    for task in tasks or TASK_DATASETS:
        for ds in datasets or TASK_DATASETS[task]:
            result[f"{task}/{ds}"] = dataset_stats(task, ds, data_dir)
    return result
