"""Loading and validating FSA dataset files (docs/reference.md §2a).

A file is one JSON array (UTF-8, often with a BOM) of sentences:

    {"ID": str, "sentence": str, "aspects": [{"from", "to", "target", "category", "polarity",
     ["opinion_words"]}, ...], ["aspects2": [...]]}

The reference files are inconsistent in ways that matter for exact reproduction, so nothing is
normalised here: offsets keep their type (strings in train/dev/test, ints in hard_test, null for
implicit targets) because the reference orders ATSA targets by them, and `opinion_words` keeps its
shape (string, list or null) because the `implicit` view tests it for truthiness. Every record is
checked and a bad one raises FsaError naming the file, the record and the field.

What is checked (the shipped files pass unchanged; measured on them):
- offsets: `from`/`to` both set or both null (digit strings at most 20 long); when set,
  0 <= from <= to <= len(sentence), and for an explicit target sentence[from:to] == target. The
  release breaks this in exactly 104 aspects (laptop14 train/dev, one rest16 NULL target),
  allowed by fingerprint in benchmark/quirks.py.
  Implicit targets (`"NULL"` with "0"/"0" or other in-range offsets, or null) are range-checked only.
- IDs are unique within a file (the release has no duplicate, although it has a few duplicate
  sentences under different IDs, which are kept) and between test and hard_test of one dataset.
- a sentence is at most limits.MAX_TEXT_CHARS and valid Unicode (no lone surrogate from a JSON
  `\\ud800` escape); a file at most limits.MAX_FILE_BYTES and nested at most limits.MAX_JSON_DEPTH.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsa_distill import limits, resources
from fsa_distill.benchmark.quirks import KNOWN_OFFSET_QUIRKS
from fsa_distill.errors import FsaError

TASKS = ("atsa", "acsa")
TASK_DATASETS = {"atsa": ("rest14", "laptop14"), "acsa": ("rest16", "laptop16")}
SPLITS = ("train", "dev", "test", "hard_test")
POLARITIES = ("positive", "neutral", "negative", "conflict")
IMPLICIT_TARGETS = ("NULL", None)


@dataclass(frozen=True)
class Aspect:
    target: str | None          # aspect term; None or "NULL" when implicit
    category: str | None        # ENTITY#ATTRIBUTE (ACSA, hard_test), else None
    polarity: str
    start: str | int | None     # the reference's "from", type kept as in the file
    end: str | int | None       # the reference's "to"
    opinion_words: Any = None   # str, list of {from,to,opinion}, or None when absent

    @property
    def is_implicit(self) -> bool:
        return self.target in IMPLICIT_TARGETS


@dataclass(frozen=True)
class Example:
    id: str
    sentence: str
    aspects: tuple[Aspect, ...]
    split: str = ""             # which file it came from: train/dev/test/hard_test
    source: str = field(default="", compare=False)

    @property
    def polarities(self) -> set[str]:
        return {a.polarity for a in self.aspects}


def _who(path: Path, idx: int, rec: Any) -> str:
    """"FILE: record N (ID x)": where every record error starts."""
    rid = rec.get("ID") if isinstance(rec, dict) else None
    rid = rid if isinstance(rid, (str, int)) and len(str(rid)) <= limits.MAX_ECHO_CHARS else None
    return f"{path}: record {idx}" + (f" (ID {rid})" if rid is not None else "")


def _fail(path: Path, idx: int, rec: Any, where: str, msg: str) -> FsaError:
    return FsaError(f"{_who(path, idx, rec)}: {where}: {msg}")


def _check_offset(path, idx, rec, where, value):
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 20:  # int() takes <= 4,300
        return value
    raise _fail(path, idx, rec, where, f"expected an integer, a digit string or null (got {limits.echo(value)})")


def offset_fingerprint(sentence: str, target: str | None, start, end) -> str:
    """Identifies one aspect's (sentence, target, from, to) for the known-quirk list (quirks.py)."""
    return hashlib.sha1("\x00".join([sentence, str(target), str(start), str(end)]).encode()).hexdigest()[:16]


def offset_problem(sentence: str, target: str | None, start, end) -> str | None:
    """Why these offsets do not fit the sentence and target, or None when they do."""
    if (start is None) != (end is None):
        return "from and to must both be set or both be null"
    if start is None:
        return None
    i, j = int(start), int(end)
    if not 0 <= i <= j <= len(sentence):
        return f"offsets {i}:{j} lie outside the sentence (length {len(sentence)})"
    if target not in IMPLICIT_TARGETS and sentence[i:j] != target:
        return f"offsets {i}:{j} give {limits.echo(sentence[i:j])}, not the target {limits.echo(target)}"
    return None


def _check_offsets(path, idx, rec, where, sentence, target, start, end) -> None:
    problem = offset_problem(sentence, target, start, end)
    if problem and offset_fingerprint(sentence, target, start, end) not in KNOWN_OFFSET_QUIRKS:
        raise _fail(path, idx, rec, where, problem + " (fsa-distill data import --format benchmark repairs "
                    "offsets by re-finding the term)")


def _parse_aspect(path, idx, rec, j, raw, sentence) -> Aspect:
    where = f"aspects[{j}]"
    if not isinstance(raw, dict):
        raise _fail(path, idx, rec, where, f"expected an object (got {type(raw).__name__})")
    pol = raw.get("polarity")
    if pol not in POLARITIES:
        raise _fail(path, idx, rec, f"{where}.polarity",
                    f"expected one of {', '.join(POLARITIES)} (got {limits.echo(pol)})")
    target = raw.get("target")
    if target is not None and not isinstance(target, str):
        raise _fail(path, idx, rec, f"{where}.target", f"expected a string or null (got {limits.echo(target)})")
    if target not in IMPLICIT_TARGETS and target not in sentence:
        raise _fail(path, idx, rec, f"{where}.target", f"{limits.echo(target)} does not occur in the sentence")
    category = raw.get("category")
    if category is not None and not isinstance(category, str):
        raise _fail(path, idx, rec, f"{where}.category", f"expected a string or null (got {limits.echo(category)})")
    ow = raw.get("opinion_words")
    if ow is not None and not isinstance(ow, (str, list)):
        raise _fail(path, idx, rec, f"{where}.opinion_words",
                    f"expected a string, a list or null (got {limits.echo(ow)})")
    if isinstance(ow, list):
        for k, o in enumerate(ow):
            if not isinstance(o, dict) or not isinstance(o.get("opinion"), str):
                raise _fail(path, idx, rec, f"{where}.opinion_words[{k}]", "expected {from, to, opinion}")
        ow = tuple((o.get("from"), o.get("to"), o["opinion"]) for o in ow)
    start = _check_offset(path, idx, rec, f"{where}.from", raw.get("from"))
    end = _check_offset(path, idx, rec, f"{where}.to", raw.get("to"))
    _check_offsets(path, idx, rec, f"{where}.from/to", sentence, target, start, end)
    return Aspect(target=target, category=category, polarity=pol, start=start, end=end, opinion_words=ow)


def text_problem(text: str) -> str | None:
    """Why a sentence cannot be used (too long, or a lone surrogate that no encoder takes), or None."""
    if len(text) > limits.MAX_TEXT_CHARS:
        return (f"{len(text)} characters, more than limits.MAX_TEXT_CHARS={limits.MAX_TEXT_CHARS} "
                "(raise it with FSA_DISTILL_MAX_TEXT_CHARS)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"invalid Unicode at character {e.start} (a lone surrogate such as \\ud800)"
    return None


def _parse_record(path: Path, idx: int, rec: Any, split: str) -> Example:
    if not isinstance(rec, dict):
        raise _fail(path, idx, rec, "record", f"expected an object (got {type(rec).__name__})")
    rid = rec.get("ID")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise _fail(path, idx, rec, "ID", f"expected a string (got {limits.echo(rid)})")
    sentence = rec.get("sentence")
    if not isinstance(sentence, str):
        raise _fail(path, idx, rec, "sentence", f"expected a string (got {limits.echo(sentence)})")
    problem = text_problem(sentence)
    if problem:
        raise _fail(path, idx, rec, "sentence", problem)
    aspects = rec.get("aspects")
    if not isinstance(aspects, list):
        raise _fail(path, idx, rec, "aspects", f"expected a list (got {limits.echo(aspects)})")
    parsed = tuple(_parse_aspect(path, idx, rec, j, a, sentence) for j, a in enumerate(aspects))
    return Example(id=str(rid), sentence=sentence, aspects=parsed, split=split, source=str(path))


def parse_records(data: Any, path: Path, split: str = "") -> list[Example]:
    if not isinstance(data, list):
        raise FsaError(f"{path}: expected a JSON array of sentences at the top level")
    examples = []
    first: dict[str, int] = {}
    for idx, rec in enumerate(data):
        ex = _parse_record(path, idx, rec, split)
        if ex.id in first:
            raise _fail(path, idx, rec, "ID", f"duplicate ID {limits.echo(ex.id)} (also record {first[ex.id]})")
        first[ex.id] = idx
        examples.append(ex)
    return examples


def load_file(path: str | Path, split: str = "") -> list[Example]:
    """Load and validate one dataset file (plain or .gz) in the reference schema."""
    path = Path(path)
    return parse_records(resources.read_json(path), path, split or path.name.split(".")[0])


def check_disjoint_ids(a: list[Example], b: list[Example]) -> None:
    """test and hard_test of one dataset are pooled into `normal`, where ids key the predictions:
    an id in both is an error naming both files (the release has none)."""
    ids = {e.id: e for e in a}
    for e in b:
        if e.id in ids:
            raise FsaError(f"{ids[e.id].source} and {e.source}: ID {limits.echo(e.id)} is in both "
                           f"({ids[e.id].split} and {e.split} are scored together, ids must differ)")


def split_path(task: str, dataset: str, split: str, data_dir: str | Path | None = None) -> Path | None:
    """Where a split lives. `dataset` may be a shipped name, a name under `data_dir`
    (`data_dir/<task>/<dataset>/` or `data_dir/<dataset>/`), or a folder path of its own."""
    if task not in TASKS:
        raise FsaError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    if split not in SPLITS:
        raise FsaError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    candidates = []
    if data_dir is not None:
        candidates += [Path(data_dir) / task / dataset, Path(data_dir) / dataset]
    elif Path(dataset).is_dir():
        candidates.append(Path(dataset))
    elif dataset in TASK_DATASETS[task]:
        candidates.append(resources.benchmark_dir() / task / dataset)
    else:
        known = ", ".join(TASK_DATASETS[task])
        raise FsaError(f"unknown {task} dataset {dataset!r}: expected one of {known}, or a folder with train/dev/test.json")
    for folder in candidates:
        for name in (f"{split}.json", f"{split}.json.gz"):
            if (folder / name).exists():
                return folder / name
    if not any(c.is_dir() for c in candidates):
        raise FsaError(f"dataset folder not found: {' or '.join(str(c) for c in candidates)}")
    return None


def load_split(task: str, dataset: str, split: str, data_dir: str | Path | None = None) -> list[Example]:
    """Load one split. A missing `hard_test` gives an empty list (as in the reference);
    any other missing split is an error."""
    path = split_path(task, dataset, split, data_dir)
    if path is None:
        if split == "hard_test":
            return []
        raise FsaError(f"{task}/{dataset}: no {split}.json found")
    examples = load_file(path, split)
    for idx, ex in enumerate(examples):
        for j, a in enumerate(ex.aspects):
            if task == "acsa" and not a.category:
                raise FsaError(f"{path}: record {idx} (ID {ex.id}): aspects[{j}].category: "
                               "ACSA needs a category (ENTITY#ATTRIBUTE)")
            if task == "atsa" and not a.is_implicit and a.start is None:
                # ATSA targets are ordered by offsets: without them the order would be arbitrary.
                raise FsaError(f"{path}: record {idx} (ID {ex.id}): aspects[{j}].from/to: "
                               "ATSA needs the offsets of an explicit target")
    return examples


def dataset_info(folder: str | Path) -> dict:
    """dataset.json of an imported folder (name, task, sources, ...), or {} when there is none."""
    path = Path(folder) / "dataset.json"
    if not path.is_file():
        return {}
    info = resources.read_json(path)
    return info if isinstance(info, dict) else {}


def dataset_label(dataset: str, data_dir: str | Path | None = None) -> str:
    """The name a dataset is reported under: a shipped name, or an imported folder's recorded name."""
    folder = Path(data_dir) / dataset if data_dir is not None else Path(dataset)
    info = dataset_info(folder) if folder.is_dir() else {}
    return str(info.get("name") or Path(dataset).name)

