"""The shipped benchmark equals the reference's counts, and gold scores F1 = 1 on every view."""

import json
import subprocess
import sys

import pytest

from fsa_distill.benchmark.data import TASK_DATASETS, load_file, load_split
from fsa_distill.benchmark.scoring import score
from fsa_distill.benchmark.stats import dataset_stats
from fsa_distill.benchmark.targets import make_target
from fsa_distill.benchmark.views import VIEWS, canonical_view, load_view
from fsa_distill.errors import FsaError

# docs/reference.md §2a: sentences, non-empty, aspects, gold tuples per split
SPLITS = {
    "atsa/rest14": {"train": (2432, 1641, 2972, 2972), "dev": (609, 380, 721, 721),
                    "test": (800, 606, 1134, 1134), "hard_test": (340, 340, 558, 383)},
    "atsa/laptop14": {"train": (2436, 1216, 1922, 1922), "dev": (609, 272, 436, 436),
                      "test": (800, 422, 654, 654), "hard_test": (237, 237, 391, 290)},
    "acsa/rest16": {"train": (1600, 1367, 1976, 1823), "dev": (400, 341, 531, 477),
                    "test": (676, 587, 859, 751), "hard_test": (340, 340, 558, 504)},
    "acsa/laptop16": {"train": (2000, 1631, 2349, 2349), "dev": (500, 408, 560, 560),
                      "test": (808, 573, 801, 801), "hard_test": (237, 237, 391, 382)},
}
# §3: (sentences, gold tuples) per view
VIEW_SIZES = {
    "atsa/rest14": {"normal": (1140, 1517), "implicit": (477, 701), "multi": (189, 451), "test": (800, 1134), "hard": (340, 383)},
    "atsa/laptop14": {"normal": (1037, 944), "implicit": (345, 492), "multi": (99, 222), "test": (800, 654), "hard": (237, 290)},
    "acsa/rest16": {"normal": (1016, 1255), "implicit": (484, 653), "multi": (146, 325), "test": (676, 751), "hard": (340, 504)},
    "acsa/laptop16": {"normal": (1045, 1183), "implicit": (462, 706), "multi": (94, 222), "test": (808, 801), "hard": (237, 382)},
}
POLARITY = {"atsa/rest14": {"train": (1774, 621, 509, 68)}, "acsa/laptop16": {"test": (481, 274, 46, 0)}}


@pytest.mark.parametrize("name", list(SPLITS))
def test_split_and_view_counts_equal_the_reference(name):
    task, ds = name.split("/")
    stats = dataset_stats(task, ds)
    for split, (sents, non_empty, aspects, tuples) in SPLITS[name].items():
        s = stats["splits"][split]
        assert (s["sentences"], s["non_empty"], s["aspects"], s["gold_tuples"]) == (sents, non_empty, aspects, tuples)
    for view, size in VIEW_SIZES[name].items():
        assert (stats["views"][view]["sentences"], stats["views"][view]["gold_tuples"]) == size
    for split, (pos, neg, neu, conf) in POLARITY.get(name, {}).items():
        p = stats["splits"][split]["polarity"]
        assert (p["positive"], p["negative"], p["neutral"], p["conflict"]) == (pos, neg, neu, conf)


@pytest.mark.parametrize("task,ds", [(t, d) for t, dss in TASK_DATASETS.items() for d in dss])
@pytest.mark.parametrize("view", VIEWS)
def test_gold_scores_f1_one_on_every_view(task, ds, view):
    examples = load_view(task, ds, view)
    m = score(task, examples, [make_target(task, e) for e in examples], bootstrap=0)
    assert m["f1"] == 1.0 and m["precision"] == 1.0 and m["recall"] == 1.0


def test_mams_is_an_alias_of_multi():
    assert canonical_view("mams") == "multi"
    with pytest.raises(FsaError, match="unknown view"):
        canonical_view("hardest")


def test_offsets_keep_their_types():
    test = load_split("atsa", "rest14", "test")
    hard = load_split("atsa", "rest14", "hard_test")
    assert isinstance(test[0].aspects[0].start, str)
    assert any(isinstance(a.start, int) for e in hard for a in e.aspects)


def write(tmp_path, data, name="train.json", bom=True):
    p = tmp_path / name
    p.write_text(("\ufeff" if bom else "") + (data if isinstance(data, str) else json.dumps(data)), encoding="utf-8")
    return p


GOOD = {"ID": "1", "sentence": "The food was good.", "aspects": [
    {"from": "4", "to": "8", "target": "food", "category": None, "polarity": "positive"}]}


def test_user_files_in_the_same_schema_load(tmp_path):
    folder = tmp_path / "mydata"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        write(folder, [GOOD], f"{split}.json")
    assert len(load_split("atsa", str(folder), "train")) == 1
    assert load_split("atsa", str(folder), "hard_test") == []  # optional, as in the reference
    assert len(load_view("atsa", str(folder), "normal")) == 1


@pytest.mark.parametrize("mutate,match", [
    (lambda r: r.update(sentence=5), r"record 1 \(ID 1\): sentence: expected a string"),
    (lambda r: r["aspects"][0].update(polarity="pos"), r"aspects\[0\].polarity: expected one of"),
    (lambda r: r["aspects"][0].update(target="pizza"), r"aspects\[0\].target: 'pizza' does not occur"),
    (lambda r: r["aspects"][0].update({"from": "four"}), r"aspects\[0\].from: expected an integer"),
    (lambda r: r["aspects"][0].update(opinion_words=3), r"aspects\[0\].opinion_words"),
    (lambda r: r.pop("aspects"), r"aspects: expected a list"),
])
def test_bad_records_name_file_record_and_field(tmp_path, mutate, match):
    rec = json.loads(json.dumps(GOOD))
    mutate(rec)
    p = write(tmp_path, [GOOD, rec])
    with pytest.raises(FsaError, match=match) as err:
        load_file(p)
    assert str(p) in str(err.value) and "record 1" in str(err.value)


def test_invalid_json_names_line(tmp_path):
    p = write(tmp_path, '[\n{"ID": "1",\n oops}]')
    with pytest.raises(FsaError, match=r"invalid JSON at line 3"):
        load_file(p)


def test_acsa_requires_categories(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    write(folder, [GOOD], "train.json")
    with pytest.raises(FsaError, match="category"):
        load_split("acsa", str(folder), "train")


def test_cli_bad_file_exits_2_without_traceback(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    for split in ("train", "dev"):
        write(folder, [GOOD], f"{split}.json")
    write(folder, "[{]", "test.json")
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "data", "stats", "--task", "atsa",
                        "--dataset", str(folder)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "test.json: invalid JSON" in r.stderr
