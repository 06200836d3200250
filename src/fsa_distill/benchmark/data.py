"""Loading and validating FSA dataset files (reference-system.md §2a).

A file is one JSON array (UTF-8, often with a BOM) of sentences:

    {"ID": str, "sentence": str, "aspects": [{"from", "to", "target", "category", "polarity",
     ["opinion_words"]}, ...], ["aspects2": [...]]}

The reference files are inconsistent in ways that matter for exact reproduction, so nothing is
normalised here: offsets keep their type (strings in train/dev/test, ints in hard_test, null for
implicit targets) because the reference orders ATSA targets by them, and `opinion_words` keeps its
shape (string, list or null) because the `implicit` view tests it for truthiness. Every record is
checked and a bad one raises FsaError naming the file, the record and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsa_distill import resources
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


def _fail(path: Path, idx: int, rec: Any, where: str, msg: str) -> FsaError:
    rid = rec.get("ID") if isinstance(rec, dict) else None
    who = f"record {idx}" + (f" (ID {rid})" if rid is not None else "")
    return FsaError(f"{path}: {who}: {where}: {msg}")


def _check_offset(path, idx, rec, where, value):
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return value
    raise _fail(path, idx, rec, where, f"expected an integer, a digit string or null (got {value!r})")


def _parse_aspect(path, idx, rec, j, raw, sentence) -> Aspect:
    where = f"aspects[{j}]"
    if not isinstance(raw, dict):
        raise _fail(path, idx, rec, where, f"expected an object (got {type(raw).__name__})")
    pol = raw.get("polarity")
    if pol not in POLARITIES:
        raise _fail(path, idx, rec, f"{where}.polarity", f"expected one of {', '.join(POLARITIES)} (got {pol!r})")
    target = raw.get("target")
    if target is not None and not isinstance(target, str):
        raise _fail(path, idx, rec, f"{where}.target", f"expected a string or null (got {target!r})")
    if target not in IMPLICIT_TARGETS and target not in sentence:
        raise _fail(path, idx, rec, f"{where}.target", f"{target!r} does not occur in the sentence")
    category = raw.get("category")
    if category is not None and not isinstance(category, str):
        raise _fail(path, idx, rec, f"{where}.category", f"expected a string or null (got {category!r})")
    ow = raw.get("opinion_words")
    if ow is not None and not isinstance(ow, (str, list)):
        raise _fail(path, idx, rec, f"{where}.opinion_words", f"expected a string, a list or null (got {ow!r})")
    if isinstance(ow, list):
        for k, o in enumerate(ow):
            if not isinstance(o, dict) or not isinstance(o.get("opinion"), str):
                raise _fail(path, idx, rec, f"{where}.opinion_words[{k}]", "expected {from, to, opinion}")
        ow = tuple((o.get("from"), o.get("to"), o["opinion"]) for o in ow)
    start = _check_offset(path, idx, rec, f"{where}.from", raw.get("from"))
    end = _check_offset(path, idx, rec, f"{where}.to", raw.get("to"))
    return Aspect(target=target, category=category, polarity=pol, start=start, end=end, opinion_words=ow)


def parse_records(data: Any, path: Path, split: str = "") -> list[Example]:
    if not isinstance(data, list):
        raise FsaError(f"{path}: expected a JSON array of sentences at the top level")
    examples = []
    for idx, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise _fail(path, idx, rec, "record", f"expected an object (got {type(rec).__name__})")
        rid = rec.get("ID")
        if not isinstance(rid, (str, int)) or isinstance(rid, bool):
            raise _fail(path, idx, rec, "ID", f"expected a string (got {rid!r})")
        sentence = rec.get("sentence")
        if not isinstance(sentence, str):
            raise _fail(path, idx, rec, "sentence", f"expected a string (got {sentence!r})")
        aspects = rec.get("aspects")
        if not isinstance(aspects, list):
            raise _fail(path, idx, rec, "aspects", f"expected a list (got {aspects!r})")
        parsed = tuple(_parse_aspect(path, idx, rec, j, a, sentence) for j, a in enumerate(aspects))
        examples.append(Example(id=str(rid), sentence=sentence, aspects=parsed, split=split, source=str(path)))
    return examples


def load_file(path: str | Path, split: str = "") -> list[Example]:
    """Load and validate one dataset file (plain or .gz) in the reference schema."""
    path = Path(path)
    text = resources.read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FsaError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    return parse_records(data, path, split or path.name.split(".")[0])


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
    if task == "acsa":
        for idx, ex in enumerate(examples):
            for j, a in enumerate(ex.aspects):
                if not a.category:
                    raise FsaError(f"{path}: record {idx} (ID {ex.id}): aspects[{j}].category: "
                                   "ACSA needs a category (ENTITY#ATTRIBUTE)")
    return examples
