"""`fsa-distill evaluate` (and, from their modules, zeroshot, llm-eval and report)."""

from __future__ import annotations

import importlib
import json


def register(sub) -> None:
    e = sub.add_parser("evaluate", help="evaluate a saved model on every view of a dataset")
    e.add_argument("--model", required=True, help="model folder, preset or hub id")
    e.add_argument("--task", choices=["atsa", "acsa"], help="default: the model's own (fsa_distill.json)")
    e.add_argument("--dataset", help="default: the model's own")
    e.add_argument("--data-dir")
    e.add_argument("--views", default="normal,test,hard,implicit,multi")
    e.add_argument("--output", help="folder for predictions and metrics (default: <model>/eval-<task>-<dataset>)")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--max-length", type=int, default=100)
    e.add_argument("--num-beams", type=int, default=1)
    e.add_argument("--grounding", action="store_true", help="map generated terms to the sentence's characters")
    e.add_argument("--limit", type=int, help="only the first N test+hard sentences")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=run_evaluate)
    # Other evaluation commands live in their own modules and register when present.
    for name in ("zeroshot", "llm_eval", "report"):
        try:
            module = importlib.import_module(f"fsa_distill.evaluation.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"fsa_distill.evaluation.{name}":
                continue
            raise
        module.register(sub)


def run_evaluate(args) -> int:
    from pathlib import Path

    from fsa_distill.errors import FsaError
    from fsa_distill.evaluation.evaluate import SUMMARY_COLUMNS, DecodeSettings, evaluate_views, summary_rows
    from fsa_distill.student.models import default_device, load_student, read_meta, resolve_model
    from fsa_distill.ui import print_table

    check_arguments(args)
    meta = read_meta(resolve_model(args.model))
    task = args.task or meta.get("task")
    dataset = args.dataset or meta.get("dataset")
    if not task or not dataset:
        raise FsaError(f"model {args.model!r} does not record its task/dataset: pass --task and --dataset")
    model, tokenizer = load_student(args.model, device=default_device())
    decode = DecodeSettings(batch_size=args.batch_size, max_length=args.max_length, num_beams=args.num_beams,
                            grounding=args.grounding or bool(meta.get("decode", {}).get("grounding")))
    out = Path(args.output) if args.output else Path(resolve_model(args.model)) / f"eval-{task}-{Path(dataset).name}"
    results = evaluate_views(model, tokenizer, task, dataset, out, decode=decode, views=args.views.split(","),
                             data_dir=args.data_dir, limit=args.limit, progress=not args.quiet)
    print_table(f"{task}/{dataset}: {args.model}", SUMMARY_COLUMNS, summary_rows(results))
    (out / "metrics.json").write_text(json.dumps({k: v for k, v in results.items() if not k.startswith("_")},
                                                 indent=2), encoding="utf-8")
    print(json.dumps({"output": str(out), "f1": {v: m["f1"] for v, m in results.items() if not v.startswith("_")}}))
    return 0


def check_arguments(args) -> None:
    """Every option of `evaluate`, before a model is loaded: one line naming the option."""
    from fsa_distill.benchmark.views import canonical_view
    from fsa_distill.errors import FsaError
    from fsa_distill.resources import check_output_dir
    from fsa_distill.student.models import check_model_spec

    for name in ("batch_size", "max_length", "num_beams", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise FsaError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
    for view in args.views.split(","):
        canonical_view(view.strip())
    check_model_spec(args.model)
    if args.output:
        check_output_dir(args.output, "--output folder")
