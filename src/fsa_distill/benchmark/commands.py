"""`fsa-distill score`: a predictions file scored with the reference metric."""

from __future__ import annotations

import json
from pathlib import Path

from fsa_distill.errors import FsaError
from fsa_distill.resources import iter_jsonl


def register(sub) -> None:
    sc = sub.add_parser("score", help="score a predictions file with the reference metric")
    sc.add_argument("--task", required=True, choices=["atsa", "acsa"])
    sc.add_argument("--dataset", required=True)
    sc.add_argument("--view", default="normal", help="normal | test | hard | implicit | multi (alias mams)")
    sc.add_argument("--predictions", required=True, help="JSON lines with at least {id, prediction}")
    sc.add_argument("--data-dir")
    sc.add_argument("--details", action="store_true", help="also per-polarity scores and a bootstrap CI")
    sc.set_defaults(func=run_score)


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
