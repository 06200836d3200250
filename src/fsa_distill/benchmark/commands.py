"""`fsa-distill data stats` and `fsa-distill score`."""

from __future__ import annotations

import json
from pathlib import Path

from fsa_distill.errors import FsaError
from fsa_distill.resources import iter_jsonl


def register(sub) -> None:
    data = sub.add_parser("data", help="inspect the FSA benchmark")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    st = dsub.add_parser("stats", help="per-split counts and view sizes (reference-system.md §2a, §3)")
    st.add_argument("--task", choices=["atsa", "acsa"], help="only this task")
    st.add_argument("--dataset", help="only this dataset (name or folder)")
    st.add_argument("--data-dir", help="a folder with <task>/<dataset>/{train,dev,test,hard_test}.json")
    st.add_argument("--json", action="store_true", help="print JSON instead of tables")
    st.set_defaults(func=run_stats)

    sc = sub.add_parser("score", help="score a predictions file with the reference metric")
    sc.add_argument("--task", required=True, choices=["atsa", "acsa"])
    sc.add_argument("--dataset", required=True)
    sc.add_argument("--view", default="normal", help="normal | test | hard | implicit | multi (alias mams)")
    sc.add_argument("--predictions", required=True, help="JSON lines with at least {id, prediction}")
    sc.add_argument("--data-dir")
    sc.add_argument("--details", action="store_true", help="also per-polarity scores and a bootstrap CI")
    sc.set_defaults(func=run_score)


def run_stats(args) -> int:
    from fsa_distill.benchmark.stats import all_stats
    from fsa_distill.ui import print_table

    tasks = [args.task] if args.task else None
    datasets = [args.dataset] if args.dataset else None
    if datasets and not tasks:
        raise FsaError("--dataset needs --task")
    stats = all_stats(tasks, datasets, args.data_dir)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    split_rows = []
    for name, ds in stats.items():
        for split, s in ds["splits"].items():
            p = s["polarity"]
            split_rows.append((f"{name} {split}", s["sentences"], s["non_empty"], s["aspects"], s["implicit_targets"],
                               f"{p['positive']}/{p['negative']}/{p['neutral']}/{p['conflict']}", s["gold_tuples"]))
    print_table("Splits", ("file", "sents", "non-empty", "aspects", "implicit", "pos/neg/neu/conf", "gold tuples"),
                split_rows)
    views = list(next(iter(stats.values()))["views"])
    print_table("Views (sentences / gold tuples); 'normal' is the reference's number", ["dataset", *views],
                [(name, *(f"{x['sentences']} / {x['gold_tuples']}" for x in ds["views"].values()))
                 for name, ds in stats.items()])
    return 0


def read_predictions(path: str | Path) -> dict[str, str]:
    """Read {id: raw prediction string} from a JSON-lines file; errors name the line."""
    path = Path(path)
    if not path.exists():
        raise FsaError(f"{path}: predictions file not found")
    preds: dict[str, str] = {}
    for n, rec in iter_jsonl(path):
        if "id" not in rec or "prediction" not in rec:
            raise FsaError(f"{path}: line {n}: expected an object with 'id' and 'prediction'")
        if not isinstance(rec["prediction"], str):
            raise FsaError(f"{path}: line {n}: 'prediction' must be a string")
        key = str(rec["id"])
        if key in preds:
            raise FsaError(f"{path}: line {n}: duplicate id {key!r}")
        preds[key] = rec["prediction"]
    return preds


def run_score(args) -> int:
    from fsa_distill.benchmark.scoring import score
    from fsa_distill.benchmark.views import load_view

    examples = load_view(args.task, args.dataset, args.view, args.data_dir)
    preds = read_predictions(args.predictions)
    ids = [e.id for e in examples]
    missing = [i for i in ids if i not in preds]
    unknown = sorted(set(preds) - set(ids))
    # Unknown ids are an error only if they are not in the wider `normal` view: a predictions
    # file for all of test+hard may be scored on any of its views.
    if unknown:
        wider = {e.id for e in load_view(args.task, args.dataset, "normal", args.data_dir)}
        unknown = [i for i in unknown if i not in wider]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing id(s), e.g. {', '.join(missing[:3])}")
        if unknown:
            parts.append(f"{len(unknown)} unknown id(s), e.g. {', '.join(unknown[:3])}")
        raise FsaError(f"{args.predictions}: {'; '.join(parts)} for {args.task}/{args.dataset} view {args.view}")
    result = score(args.task, examples, [preds[i] for i in ids], bootstrap=1000 if args.details else 0)
    if not args.details:
        result = {k: result[k] for k in ("precision", "recall", "f1", "n_sentences", "n_gold", "n_pred")}
    print(json.dumps(result))
    return 0
