"""`fsa-distill data stats|import|export`: the benchmark's numbers, your files in and out."""

from __future__ import annotations

import json
from pathlib import Path

from fsa_distill.errors import FsaError


def register(sub) -> None:
    data = sub.add_parser("data", help="inspect the FSA benchmark; import and export your own data")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    st = dsub.add_parser("stats", help="per-split counts and view sizes (docs/reference.md §2a, §3)")
    st.add_argument("--task", choices=["atsa", "acsa"], help="only this task")
    st.add_argument("--dataset", help="only this dataset (name or folder)")
    st.add_argument("--data-dir", help="a folder with <task>/<dataset>/{train,dev,test,hard_test}.json, "
                    "or one dataset folder (e.g. written by data import)")
    st.add_argument("--json", action="store_true", help="print JSON instead of tables")
    st.set_defaults(func=run_stats)
    register_import_export(dsub)


def register_import_export(dsub) -> None:
    from fsa_distill.data_import.export import EXPORT_FORMATS
    from fsa_distill.data_import.importer import FORMATS

    im = dsub.add_parser("import", help="your files (SemEval XML, CSV/JSONL/Parquet, PyABSA, HF datasets) "
                         "-> a validated dataset folder")
    im.add_argument("--format", default="auto", choices=FORMATS, help="default: detect it (and say which)")
    im.add_argument("--train", required=True, help="file, or a Hugging Face folder / hub id")
    im.add_argument("--dev", help="default: split off train (--dev-fraction, --seed)")
    im.add_argument("--test", help="required unless --train is a Hugging Face DatasetDict with a test split")
    im.add_argument("--hard-test")
    im.add_argument("--output", required=True, help="the dataset folder to write (must not exist, or --force)")
    im.add_argument("--task", default="atsa", choices=["atsa", "acsa"])
    im.add_argument("--name", help="the dataset's name in reports (default: the folder's)")
    im.add_argument("--dev-fraction", type=float, default=0.2)
    im.add_argument("--seed", type=int, default=42)
    for role in ("text", "aspect", "polarity", "from", "to", "category", "id", "ordinal", "aspects"):
        im.add_argument(f"--{role}-column", help=f"table/HF column of the {role} (default: found by name)")
    im.add_argument("--label-map", help="LABEL=polarity,... replacing the default label names "
                    "(e.g. 0=negative,1=neutral,2=positive)")
    im.add_argument("--force", action="store_true", help="replace an output folder an earlier data import wrote "
                    "(never a file, an input's folder or a folder holding other files)")
    im.add_argument("--strict", action="store_true", help="records that would be repaired by a guess or skipped "
                    "(a PyABSA APC line with several $T$) are errors")
    im.set_defaults(func=run_import)

    ex = dsub.add_parser("export", help="a dataset's splits as SemEval-2014/2016 XML or CSV")
    ex.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    ex.add_argument("--task", required=True, choices=["atsa", "acsa"])
    ex.add_argument("--dataset", required=True, help="a shipped name or a dataset folder")
    ex.add_argument("--data-dir")
    ex.add_argument("--output", required=True, help="folder for train/dev/test[/hard_test] files")
    ex.add_argument("--force", action="store_true")
    ex.set_defaults(func=run_export)


def parse_label_map(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [p for p in text.split(",") if p.strip()]
    if any("=" not in p for p in pairs):
        raise FsaError(f"--label-map {text[:80]!r}: expected LABEL=polarity,LABEL=polarity")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}


def run_import(args) -> int:
    import sys

    from fsa_distill.config import build_config
    from fsa_distill.data_import.importer import ImportOptions, import_dataset

    sources = {s: getattr(args, a) for s, a in (("train", "train"), ("dev", "dev"), ("test", "test"),
                                                  ("hard_test", "hard_test")) if getattr(args, a)}
    columns = {r: getattr(args, f"{r}_column") for r in ("text", "aspect", "polarity", "from", "to", "category",
                                                         "id", "ordinal", "aspects") if getattr(args, f"{r}_column")}
    opts = build_config(ImportOptions, dict(
        format=args.format, task=args.task, sources=sources, output_dir=args.output, name=args.name,
        dev_fraction=args.dev_fraction, seed=args.seed, columns=columns, label_map=parse_label_map(args.label_map),
        force=args.force, strict=args.strict), "data import")
    info = import_dataset(opts, say=lambda m: print(m, file=sys.stderr))
    for split, c in info["counts"].items():
        print(f"{split}: {c['sentences']} sentences, {c['aspects']} aspects, {c['without_aspects']} without aspects")
    for kind in ("dropped", "repaired", "merged"):
        for why, n in info[kind].items():
            places = info["where"].get(why, [])
            print(f"{kind}: {n} {why}" + (f" (first: {places[0]})" if places else ""))
    for note in info["notes"]:
        print(f"note: {note}")
    missing = {v: d["unavailable"] for v, d in info["stats"]["views"].items() if "unavailable" in d}
    for view, why in missing.items():
        print(f"view {view}: unavailable ({why})")
    print(f"wrote {args.output} (dataset.json records sources, counts, drops and repairs)")
    return 0


def run_export(args) -> int:
    from fsa_distill.data_import.export import export_dataset

    written = export_dataset(args.task, args.dataset, args.format, Path(args.output), args.data_dir, args.force)
    for split, path in written.items():
        print(f"{split}: {path}")
    return 0


def stats_targets(args) -> tuple[list[str] | None, list[str] | None, str | None]:
    """(tasks, datasets, data_dir) for `data stats`: a dataset folder (given with --dataset or as
    --data-dir itself) takes its task from --task or its dataset.json."""
    from fsa_distill.benchmark.data import dataset_info

    folder = None
    if args.dataset and Path(args.dataset).is_dir() and not args.data_dir:
        folder = Path(args.dataset)
    elif args.data_dir and not args.dataset and (Path(args.data_dir) / "train.json").exists():
        folder = Path(args.data_dir)
    if folder is not None:
        task = args.task or dataset_info(folder).get("task")
        if not task:
            raise FsaError(f"{folder}: no dataset.json saying its task: pass --task")
        return [task], [str(folder)], None
    tasks = [args.task] if args.task else None
    datasets = [args.dataset] if args.dataset else None
    if datasets and not tasks:
        raise FsaError("--dataset needs --task")
    return tasks, datasets, args.data_dir


def run_stats(args) -> int:
    from fsa_distill.benchmark.stats import all_stats
    from fsa_distill.ui import print_table

    stats = all_stats(*stats_targets(args))
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
                [(name, *("unavailable" if "unavailable" in x else f"{x['sentences']} / {x['gold_tuples']}"
                          for x in ds["views"].values())) for name, ds in stats.items()])
    for name, ds in stats.items():
        for view, x in ds["views"].items():
            if "unavailable" in x:
                print(f"{name}: view {view} unavailable: {x['unavailable']}")
    return 0
