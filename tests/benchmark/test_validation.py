"""Tightened validation of benchmark-schema files, and views on data that cannot give them all."""

import json
import subprocess
import sys

import pytest

from fsa_distill import limits
from fsa_distill.benchmark import data as data_mod
from fsa_distill.benchmark.data import load_file, load_split
from fsa_distill.benchmark.quirks import KNOWN_OFFSET_QUIRKS
from fsa_distill.benchmark.stats import dataset_stats
from fsa_distill.benchmark.views import load_view, load_views
from fsa_distill.errors import FsaError
from fsa_distill.resources import benchmark_dir

GOOD = {"ID": "1", "sentence": "The food was good.", "aspects": [
    {"from": "4", "to": "8", "target": "food", "category": None, "polarity": "positive"}]}


def rec(**kw):
    r = json.loads(json.dumps(GOOD))
    aspect = kw.pop("aspect", None)
    if aspect:
        r["aspects"][0].update(aspect)
    r.update(kw)
    return r


def folder(tmp_path, splits: dict, name="d"):
    d = tmp_path / name
    d.mkdir()
    base = {"train": [GOOD], "dev": [GOOD], "test": [GOOD]}
    for split, records in {**base, **splits}.items():
        (d / f"{split}.json").write_text(records if isinstance(records, str) else json.dumps(records),
                                         encoding="utf-8")
    return d


def test_every_known_quirk_is_in_the_shipped_files_and_needed(monkeypatch):
    # The allow-list is exactly the shipped mismatches: all 104 are used, and without it laptop14 fails.
    seen = set()
    for f in benchmark_dir().rglob("*.json.gz"):
        for ex in load_file(f):
            for a in ex.aspects:
                fp = data_mod.offset_fingerprint(ex.sentence, a.target, a.start, a.end)
                if data_mod.offset_problem(ex.sentence, a.target, a.start, a.end):
                    seen.add(fp)
    assert seen == KNOWN_OFFSET_QUIRKS and len(seen) == 104
    monkeypatch.setattr(data_mod, "KNOWN_OFFSET_QUIRKS", frozenset())
    with pytest.raises(FsaError, match=r"laptop14/train.json.gz: record \d+ \(ID \d+\): aspects\[\d\].from/to: offsets"):
        load_split("atsa", "laptop14", "train")
    load_split("atsa", "rest14", "train")  # no quirk there


@pytest.mark.parametrize("aspect,match", [
    ({"from": "5", "to": "9"}, r"offsets 5:9 give 'ood ', not the target 'food'"),
    ({"from": "4", "to": "80"}, r"offsets 4:80 lie outside the sentence \(length 18\)"),
    ({"from": "-1", "to": "3"}, r"lie outside the sentence"),
    ({"from": "4", "to": None}, r"from and to must both be set or both be null"),
    ({"target": "NULL", "from": "0", "to": "99"}, r"lie outside the sentence"),
])
def test_bad_offsets_name_file_record_and_id(tmp_path, aspect, match):
    p = tmp_path / "test.json"
    p.write_text(json.dumps([rec(ID="a"), rec(ID="b", aspect=aspect)]), encoding="utf-8")
    with pytest.raises(FsaError, match=match) as err:
        load_file(p)
    assert f"{p}: record 1 (ID b): aspects[0].from/to" in str(err.value)
    assert "data import --format benchmark" in str(err.value)  # says how to repair


def test_implicit_targets_with_zero_offsets_and_atsa_needs_explicit_offsets(tmp_path):
    implicit = rec(aspect={"target": "NULL", "from": "0", "to": "0"})
    d = folder(tmp_path, {"train": [implicit]})
    assert load_split("atsa", str(d), "train")[0].aspects[0].is_implicit
    d2 = folder(tmp_path, {"train": [rec(aspect={"from": None, "to": None})]}, "d2")
    with pytest.raises(FsaError, match=r"ATSA needs the offsets of an explicit target"):
        load_split("atsa", str(d2), "train")


def test_duplicate_ids_within_a_split(tmp_path):
    p = tmp_path / "train.json"
    p.write_text(json.dumps([rec(ID="7"), rec(ID="8"), rec(ID="7")]), encoding="utf-8")
    with pytest.raises(FsaError, match=r"record 2 \(ID 7\): ID: duplicate ID '7' \(also record 0\)") as err:
        load_file(p)
    assert str(p) in str(err.value)


def test_duplicate_ids_between_test_and_hard_test_name_both_files(tmp_path):
    d = folder(tmp_path, {"hard_test": [rec(ID="1")]})
    for call in (lambda: load_views("atsa", str(d)), lambda: dataset_stats("atsa", str(d)),
                 lambda: load_view("atsa", str(d), "normal")):
        with pytest.raises(FsaError, match=r"test.json and .*hard_test.json: ID '1' is in both"):
            call()


def test_shipped_test_and_hard_test_ids_are_disjoint():
    from fsa_distill.benchmark.data import load_split

    for task, ds in (("atsa", "rest14"), ("atsa", "laptop14"), ("acsa", "rest16"), ("acsa", "laptop16")):
        test, hard = ({e.id for e in load_split(task, ds, split)} for split in ("test", "hard_test"))
        assert test and hard and not test & hard, (task, ds, sorted(test & hard)[:5])
        normal = load_views(task, ds)["normal"]
        assert len(normal) == len(test) + len(hard) and {e.id for e in normal} == test | hard


def test_long_sentence_and_lone_surrogate_are_one_line_errors(tmp_path, monkeypatch):
    p = tmp_path / "train.json"
    p.write_text('[{"ID": "s1", "sentence": "bad \\ud800 text", "aspects": []}]', encoding="utf-8")
    with pytest.raises(FsaError, match=r"train.json: record 0 \(ID s1\): sentence: invalid Unicode at character 4"):
        load_file(p)
    monkeypatch.setattr(limits, "MAX_TEXT_CHARS", 10)
    p.write_text(json.dumps([rec(ID="x")]), encoding="utf-8")
    with pytest.raises(FsaError, match=r"record 0 \(ID x\): sentence: 18 characters, more than "
                                       r"limits.MAX_TEXT_CHARS=10"):
        load_file(p)


def test_file_size_is_bounded(tmp_path, monkeypatch):
    p = tmp_path / "train.json"
    p.write_text(json.dumps([GOOD] * 20), encoding="utf-8")
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 100)
    with pytest.raises(FsaError, match=r"bytes, more than limits.MAX_FILE_BYTES=100"):
        load_file(p)


def test_deep_nesting_and_size_limits_from_the_cli(tmp_path):
    d = folder(tmp_path, {"test": "[" * 100_000})
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "data", "stats", "--task", "atsa",
                        "--dataset", str(d)], check=False, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert "test.json: JSON nested deeper than limits.MAX_JSON_DEPTH=64" in r.stderr
    # a huge sentence, refused at load with the limit raised from the environment
    d2 = folder(tmp_path, {"train": [rec(sentence="food " * 50, aspect={"from": "0", "to": "4"})]}, "d2")
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "data", "stats", "--task", "atsa",
                        "--dataset", str(d2)], check=False, capture_output=True, text=True,
                       env={**__import__("os").environ, "FSA_DISTILL_MAX_TEXT_CHARS": "100"})
    assert r.returncode == 2 and "train.json: record 0 (ID 1): sentence: 250 characters" in r.stderr


def test_json_depth_scan_ignores_brackets_in_strings(tmp_path):
    p = tmp_path / "train.json"
    p.write_text(json.dumps([rec(sentence="[[[[ food " + "[" * 100, aspect={"from": "5", "to": "9"})]),
                 encoding="utf-8")
    assert load_file(p)[0].sentence.startswith("[[[[")


def test_views_unavailable_without_opinion_words_or_hard_test(tmp_path):
    d = folder(tmp_path, {})
    views = load_views("atsa", str(d))
    assert views["implicit"] == [] and views["hard"] == [] and len(views["normal"]) == 1
    with pytest.raises(FsaError, match=r"view 'implicit' is unavailable on this data: no opinion words"):
        load_view("atsa", str(d), "implicit")
    stats = dataset_stats("atsa", str(d))["views"]
    assert stats["implicit"]["unavailable"].startswith("no opinion words")
    assert stats["hard"]["unavailable"] == "no hard_test.json"
    # with opinion words somewhere, the reference's rule applies as before
    with_ow = rec(ID="2", aspect={"opinion_words": [{"from": 13, "to": 17, "opinion": "good"}]})
    d2 = folder(tmp_path, {"test": [GOOD, with_ow]}, "d2")
    assert [e.id for e in load_view("atsa", str(d2), "implicit")] == ["1"]
