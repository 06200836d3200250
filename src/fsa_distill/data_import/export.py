"""`fsa-distill data export`: a dataset's splits as SemEval-2014 XML, SemEval-2016 XML or CSV.

One file per split (train.xml, dev.xml, ...) in a new folder, written atomically like an import.
CSV has one row per aspect (id, sentence, aspect, category, polarity, from, to, opinion_words as
JSON; a sentence without aspects is one row with those empty), which `data import` reads back.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from fsa_distill.benchmark.data import SPLITS, load_split, split_path
from fsa_distill.data_import import semeval
from fsa_distill.data_import.semeval import opinion_words_json
from fsa_distill.errors import FsaError

EXPORT_FORMATS = ("semeval2014", "semeval2016", "csv")
CSV_COLUMNS = ("id", "sentence", "aspect", "category", "polarity", "from", "to", "opinion_words")


def write_csv(examples, task: str, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for ex in examples:
            if not ex.aspects:
                w.writerow([ex.id, ex.sentence, "", "", "", "", "", ""])
            for a in ex.aspects:
                implicit = a.is_implicit
                w.writerow([ex.id, ex.sentence, "NULL" if implicit else a.target, a.category or "", a.polarity,
                            "" if implicit else a.start, "" if implicit else a.end, opinion_words_json(a)])


WRITERS = {"semeval2014": (semeval.write_semeval2014, "xml"), "semeval2016": (semeval.write_semeval2016, "xml"),
           "csv": (write_csv, "csv")}


def export_dataset(task: str, dataset: str, fmt: str, output: Path, data_dir=None, force: bool = False) -> dict:
    """{split: file written}. Splits that do not exist (hard_test) are skipped."""
    if fmt not in WRITERS:
        raise FsaError(f"unknown export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    from fsa_distill.data_import.importer import check_output, make_temp_beside, swap_into_place

    own = frozenset(f"{s}.{ext}" for s in SPLITS for _, ext in WRITERS.values())
    inputs = {p.parent for p in (split_path(task, dataset, s, data_dir) for s in SPLITS) if p is not None}
    check_output(output, force, inputs, own, None)  # the dataset's own folder is never replaced nor written into
    splits = {s: load_split(task, dataset, s, data_dir) for s in SPLITS}
    writer, ext = WRITERS[fmt]
    tmp = make_temp_beside(output)
    written = {}
    try:
        for split, examples in splits.items():
            if split == "hard_test" and not examples:
                continue
            writer(examples, task, tmp / f"{split}.{ext}")
            written[split] = str(output / f"{split}.{ext}")
        swap_into_place(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written
