"""`fsa-distill data import`: read files of any supported format into a validated dataset folder.

The folder holds train.json, dev.json, test.json (and hard_test.json when given) in the benchmark
schema, which `dataset=DIR` takes as it is, and dataset.json: name, task, format, source files,
counts, what was dropped, repaired or merged and why. It is built in a temporary folder beside
the target, loaded back with the benchmark's own validation, and only then renamed into place,
so a failure leaves no partial folder.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field

from fsa_distill import limits
from fsa_distill.config import Renamed, StrictConfig
from fsa_distill.data_import import hf, pyabsa, semeval, table
from fsa_distill.data_import.records import (
    ImportReport,
    RawSentence,
    finalize,
    label_mapper,
)
from fsa_distill.errors import FsaError

FORMATS = ("auto", "benchmark", "semeval2014", "semeval2016", "csv", "jsonl", "parquet", "apc", "atepc", "hf")
IMPORT_SPLITS = ("train", "dev", "test", "hard_test")


class ImportOptions(StrictConfig):
    renamed = {"output": Renamed("output_dir")}  # `output_dir`, as every other config names its folder

    format: Literal[FORMATS] = "auto"  # type: ignore[valid-type]
    task: Literal["atsa", "acsa"] = "atsa"
    sources: dict[str, str] = Field(description="split -> file (or HF folder / hub id)")
    output_dir: str = Field(description="the dataset folder to write (`--output`)")
    name: str | None = Field(None, description="the dataset's name in reports (default: the output folder's)")
    dev_fraction: float = Field(0.2, gt=0, lt=1, description="dev split off train when no dev file is given")
    seed: int = 42
    columns: dict[str, str] = Field(default_factory=dict, description="role -> column (text, aspect, ...)")
    label_map: dict[str, str] | None = None
    force: bool = False
    strict: bool = Field(False, description="records that would be repaired by a guess or skipped are errors")


def detect(path_or_id: str) -> tuple[str, str]:
    """(format, why) for a source, or an FsaError asking for --format."""
    p = Path(path_or_id)
    if p.is_dir():
        return "hf", "a folder (Hugging Face datasets)"
    if not p.exists():
        # owner/name with no file suffix: a hub id; anything else is a missing file
        if path_or_id.count("/") == 1 and not p.suffix and not path_or_id.startswith((".", "/", "~")):
            return "hf", "not a local path: a Hugging Face hub id"
        raise FsaError(f"{p}: file not found")
    if not p.is_file():  # a FIFO or a device would block or never end
        raise FsaError(f"{p}: not a regular file")
    suffix = "".join(p.suffixes[-2:]).lower() if p.suffix.lower() == ".gz" else p.suffix.lower()
    if suffix in (".xml",):
        kind = semeval.root_kind(p)
        if kind:
            return kind, f"XML with root <{'sentences' if kind == 'semeval2014' else 'Reviews'}>"
        raise FsaError(f"{p}: XML, but neither <sentences> (SemEval-2014) nor <Reviews> (2015/16): pass --format")
    if suffix in (".csv", ".tsv"):
        return "csv", f"{suffix} file"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl", f"{suffix} file"
    if suffix == ".parquet":
        return "parquet", ".parquet file"
    head = p.open("rb").read(65536).decode("utf-8-sig", "ignore")
    if suffix.startswith(".json"):
        if head.lstrip().startswith("[") and '"sentence"' in head and '"aspects"' in head:
            return "benchmark", "a JSON array of {ID, sentence, aspects}"
        return "jsonl", "JSON rows"
    lines = [ln for ln in head.splitlines()[:30] if ln.strip()]
    if any(pyabsa.PLACEHOLDER in ln for ln in lines[:3]):
        return "apc", "lines with $T$ (PyABSA APC)"
    if lines and all(len(ln.split()) in (2, 3) and (ln.split()[1] == "O" or ln.split()[1][:2] in ("B-", "I-"))
                     for ln in lines):
        return "atepc", "token TAG lines (BIO, PyABSA ATEPC)"
    raise FsaError(f"{p}: could not tell the format: pass --format ({', '.join(FORMATS[1:])})")


def read_source(fmt: str, source: str, split: str, opts: ImportOptions, report: ImportReport) -> dict:
    """{split: [RawSentence]} (an HF DatasetDict may give several splits)."""
    path = Path(source)
    if fmt == "semeval2014":
        return {split: semeval.read_semeval2014(path, opts.task, report)}
    if fmt == "semeval2016":
        return {split: semeval.read_semeval2016(path, opts.task, report)}
    if fmt in ("csv", "jsonl", "parquet"):
        reader = {"csv": table.read_csv, "jsonl": table.read_jsonl, "parquet": table.read_parquet}[fmt]
        return {split: reader(path, opts.columns, report)}
    if fmt == "apc":
        return {split: pyabsa.read_apc(path, report, opts.strict)}
    if fmt == "atepc":
        return {split: pyabsa.read_atepc(path, report)}
    if fmt == "benchmark":
        return {split: read_benchmark(path)}
    parts = hf.splits(hf.load(source), source, split)
    out = {}
    for name, rows in parts.items():
        cols = table.pick_columns(list(rows[0][1]) if rows else [], opts.columns, f"{source} [{name}]")
        out[name] = table.rows_to_sentences(rows, cols, report)
    return out


def read_benchmark(path: Path) -> list[RawSentence]:
    """A benchmark-schema file read leniently (offsets re-found where they miss), for repairing
    hand-written files; the strict reader is benchmark.data.load_file."""
    from fsa_distill.resources import read_json
    from fsa_distill.data_import.table import aspect_from

    data = read_json(path)
    if not isinstance(data, list):
        raise FsaError(f"{path}: expected a JSON array of sentences at the top level")
    out = []
    for i, rec in enumerate(data):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict) or not isinstance(rec.get("sentence"), str) \
                or not isinstance(rec.get("aspects"), list):
            raise FsaError(f"{where}: expected {{ID, sentence, aspects: [...]}}")
        aspects = [aspect_from(a, where) for a in rec["aspects"]]
        out.append(RawSentence(id=rec.get("ID"), text=rec["sentence"], aspects=aspects, where=where))
    return out


def collect(opts: ImportOptions, report: ImportReport, say) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Benchmark records per split, and the format used per source."""
    to_polarity = label_mapper(opts.label_map)
    raw: dict[str, list[RawSentence]] = {}
    formats = {}
    for split, source in opts.sources.items():
        fmt = opts.format
        if fmt == "auto":
            fmt, why = detect(source)
            say(f"{source}: format {fmt} ({why})")
        formats[split] = fmt
        for name, sents in read_source(fmt, source, split, opts, report).items():
            if name in raw and name != split:
                continue  # an explicit --dev/--test wins over the DatasetDict's own split
            raw[name] = sents
    if "train" not in raw or "test" not in raw:
        raise FsaError("data import needs --train and --test (a Hugging Face DatasetDict may give both)")
    records = {s: finalize(raw[s], opts.task, s, to_polarity, report) for s in IMPORT_SPLITS if s in raw}
    if "hard_test" in records:
        separate_hard_ids(records["test"], records["hard_test"], opts.sources, report)
    if "dev" not in records:
        records["train"], records["dev"] = split_dev(records["train"], opts.dev_fraction, opts.seed)
        report.notes.append(f"dev: {len(records['dev'])} sentences split off train "
                            f"(fraction {opts.dev_fraction}, seed {opts.seed})")
    return {s: records[s] for s in IMPORT_SPLITS if s in records}, formats


def separate_hard_ids(test: list[dict], hard: list[dict], sources: dict, report: ImportReport) -> None:
    """test and hard_test are scored together, keyed by ID: the same sentence in both is an
    error (it would be counted twice); an ID reused for another sentence gets a `#hard` suffix."""
    by_id = {r["ID"]: r for r in test}
    for r in hard:
        other = by_id.get(r["ID"])
        if other is None:
            continue
        if other["sentence"] == r["sentence"]:
            raise FsaError(f"{sources.get('test')} and {sources.get('hard_test')}: the sentence with ID "
                           f"{r['ID'][:80]!r} is in both test and hard_test")
        r["ID"] = f"{r['ID']}#hard"
        report.repaired["hard_test: IDs also used in test, renamed ID#hard"] += 1


def split_dev(train: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    if len(train) < 2:
        raise FsaError(f"train has {len(train)} sentence(s): too few to split a dev set off (give --dev)")
    n_dev = min(len(train) - 1, max(1, round(len(train) * fraction)))
    picked = set(random.Random(seed).sample(range(len(train)), n_dev))
    return ([r for i, r in enumerate(train) if i not in picked], [r for i, r in enumerate(train) if i in picked])


def counts(records: dict[str, list[dict]]) -> dict:
    return {s: {"sentences": len(r), "aspects": sum(len(x["aspects"]) for x in r),
                "without_aspects": sum(1 for x in r if not x["aspects"])} for s, r in records.items()}


OWN_FILES = frozenset({"dataset.json", *(f"{s}.json" for s in IMPORT_SPLITS)})  # what data import writes


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(output: Path, force: bool, inputs, own: frozenset, marker: str | None, say=None) -> None:
    """Before anything is read: `output` may be written, and (with --force) replaced. Never the
    current folder or one holding it, never a folder holding an input or inside an input folder,
    never a regular file; --force replaces only a folder holding nothing but the files this
    command writes (and, for data import, its `marker` dataset.json)."""
    from fsa_distill.resources import check_output_dir

    res, cwd = output.resolve(), Path.cwd().resolve()
    if _inside(cwd, res):
        raise FsaError(f"{output}: is the current folder or holds it: name a new folder for the output")
    for src in inputs:
        p = Path(src).resolve()
        if Path(src).exists() and (_inside(p, res) or (p.is_dir() and _inside(res, p))):
            raise FsaError(f"{output}: holds the input {src}, or lies inside it: choose an output folder apart "
                           "from the inputs (--force never replaces an input)")
    check_output_dir(output, "output")
    old = output.with_name(f".{output.name}.old")
    if (old.exists() or old.is_symlink()) and say is not False:
        note = f"note: {old} is left from an earlier --force (it may hold a replaced file); it is not touched"
        say(note) if say else print(note, file=sys.stderr)
    if not (output.exists() or output.is_symlink()):
        return
    if not output.is_dir():
        raise FsaError(f"{output}: is a file, not a dataset folder (--force replaces only a folder this command wrote)")
    names = sorted(p.name for p in output.iterdir())
    foreign = [n for n in names if n not in own]
    if foreign or (marker and names and marker not in names):  # an empty folder holds nothing to lose
        why = f"holds {limits.echo(foreign)}, which this command did not write" if foreign else f"has no {marker}"
        raise FsaError(f"{output}: already exists and {why}: --force replaces only a folder this command "
                       "wrote; choose another output")
    if not force:
        raise FsaError(f"{output}: already exists (pass --force to replace it)")


def make_temp_beside(output: Path) -> Path:
    """A new hidden folder beside `output` (same file system, so it can be renamed into place)."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    except OSError as e:
        raise FsaError(f"{output}: cannot create a folder there ({e.strerror or type(e).__name__})") from None


def swap_into_place(tmp: Path, output: Path) -> None:
    """Rename `tmp` to `output`; an old `output` (checked by check_output) is moved into a fresh
    hidden folder first, put back if the rename fails, and removed once the new one is in place."""
    if not output.exists():
        tmp.rename(output)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.parent))
    output.rename(trash / "old")
    try:
        tmp.rename(output)
    except BaseException:
        (trash / "old").rename(output)
        trash.rmdir()
        raise
    shutil.rmtree(trash, ignore_errors=True)


def write_folder(records: dict[str, list[dict]], info: dict, output: Path, task: str, force: bool) -> None:
    """Write into a temporary folder beside `output`, validate it as the loader will read it, then
    rename it into place (replacing an old folder only with --force, see check_output)."""
    from fsa_distill.benchmark.stats import dataset_stats

    check_output(output, force, info["sources"].values(), OWN_FILES, "dataset.json", say=False)
    tmp = make_temp_beside(output)
    try:
        for split, recs in records.items():
            (tmp / f"{split}.json").write_text(json.dumps(recs, ensure_ascii=False, indent=1), encoding="utf-8")
        try:
            info["stats"] = dataset_stats(task, str(tmp))  # the loader's validation, and the counts
        except FsaError as e:  # name the folder being written, not its temporary name
            raise FsaError(str(e).replace(str(tmp), str(output))) from None
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        swap_into_place(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def import_dataset(opts: ImportOptions, say=print) -> dict:
    """Import, write, and return dataset.json's content."""
    report = ImportReport()
    output = Path(opts.output_dir)
    check_output(output, opts.force, opts.sources.values(), OWN_FILES, "dataset.json", say)  # before reading
    records, formats = collect(opts, report, say)
    sources = {s: str(Path(src).resolve()) if Path(src).exists() else src for s, src in opts.sources.items()}
    info = {"name": opts.name or output.name, "task": opts.task,
            "format": formats, "sources": sources, "counts": counts(records), **report.as_dict()}
    write_folder(records, info, output, opts.task, opts.force)
    return info
