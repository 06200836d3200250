"""`fsa-distill evaluate` (and, from their modules, zeroshot, llm-eval and report)."""

from __future__ import annotations

import importlib
import json


def register(sub) -> None:
    e = sub.add_parser("evaluate", help="evaluate a saved model on every view of a dataset")
    e.add_argument("--model", required=True, help="model folder, preset or hub id")
    e.add_argument("--task", choices=["atsa", "acsa"], help="default: the model's own (fsa_distill.json)")
    e.add_argument("--dataset", help="default: the model's own; a shipped name or a dataset folder "
                   "(e.g. from `data import`): another dataset than the model's is a cross-domain evaluation")
    e.add_argument("--data-dir", help="a folder of <task>/<dataset>/ folders, or one dataset folder")
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
    task, dataset, data_dir, name = eval_dataset(args, meta)
    model, tokenizer = load_student(args.model, device=default_device())
    decode = DecodeSettings(batch_size=args.batch_size, max_length=args.max_length, num_beams=args.num_beams,
                            grounding=args.grounding or bool(meta.get("decode", {}).get("grounding")))
    out = Path(args.output) if args.output else Path(resolve_model(args.model)) / f"eval-{task}-{Path(dataset).name}"
    results = evaluate_views(model, tokenizer, task, dataset, out, decode=decode, views=args.views.split(","),
                             data_dir=data_dir, limit=args.limit, progress=not args.quiet)
    trained_on = meta.get("dataset")
    cross = f" (trained on {meta.get('task')}/{Path(str(trained_on)).name})" \
        if trained_on and Path(str(trained_on)).name != name else ""
    print_table(f"{task}/{name}: {args.model}{cross}", SUMMARY_COLUMNS, summary_rows(results))
    for view, why in results["_unavailable"].items():
        print(f"view {view}: skipped, unavailable on {name} ({why})")
    info = {"model": args.model, "task": task, "dataset": dataset, "dataset_name": name,
            "trained_on": trained_on, "unavailable_views": results["_unavailable"]}
    (out / "metrics.json").write_text(json.dumps({k: dict(v, trained_on=trained_on) for k, v in results.items()
                                                  if not k.startswith("_")}, indent=2), encoding="utf-8")
    (out / "eval_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(json.dumps({"output": str(out), "dataset": name, "trained_on": trained_on,
                      "f1": {v: m["f1"] for v, m in results.items() if not v.startswith("_")},
                      "unavailable": results["_unavailable"]}))
    return 0


def eval_dataset(args, meta: dict) -> tuple[str, str, str | None, str]:
    """(task, dataset, data_dir, name) to evaluate on: the model's own unless --dataset/--data-dir
    name another (a shipped name, a dataset folder, or --data-dir being one dataset folder)."""
    from pathlib import Path

    from fsa_distill.benchmark.data import dataset_info, dataset_label
    from fsa_distill.errors import FsaError

    dataset, data_dir = args.dataset, args.data_dir
    if data_dir and not dataset and (Path(data_dir) / "test.json").exists():
        dataset, data_dir = data_dir, None  # --data-dir is itself one dataset folder
    dataset = dataset or meta.get("dataset")
    folder = Path(data_dir) / dataset if data_dir and dataset else Path(dataset) if dataset else None
    folder_task = dataset_info(folder).get("task") if folder is not None and folder.is_dir() else None
    task = args.task or meta.get("task")
    if folder_task and not args.task and task and folder_task != task:
        raise FsaError(f"{folder}: an {folder_task} dataset, but the model is {task}: pass --task to force it")
    task = task or folder_task
    if not task or not dataset:
        raise FsaError(f"model {args.model!r} does not record its task/dataset: pass --task and --dataset")
    return task, dataset, data_dir, dataset_label(dataset, data_dir)


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
