"""Issue 24, datasets as `evaluate`, `finetune` and `run` read them: 4,300-digit integers in a
dataset file or its dataset.json, a missing --data-dir named, and `run --dry-run` refusing a
dataset that is no dataset folder before it plans any stage."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest
from helpers import assert_one_line_error, cli

from fsa_distill.errors import FsaError

BIG = "1" * 5000
GOOD = {"ID": "1", "sentence": "nice tea", "aspects": [{"from": 5, "to": 8, "target": "tea", "category": None,
                                                         "polarity": "positive"}]}


def dataset(folder: Path, test_text: str | None = None, info: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        (folder / f"{split}.json").write_text(json.dumps([GOOD]), encoding="utf-8")
    if test_text is not None:
        (folder / "test.json").write_text(test_text, encoding="utf-8")
    if info is not None:
        (folder / "dataset.json").write_text(info, encoding="utf-8")
    return folder


@pytest.mark.parametrize("test_text, needles", [
    (f'[{{"ID": "1", "sentence": "nice tea", "aspects": [{{"from": {BIG}, "to": 8, "target": "tea", '
     '"polarity": "positive"}]}]', ["test.json", "digits"]),
    (json.dumps([{**GOOD, "aspects": [{**GOOD["aspects"][0], "from": BIG}]}]), ["test.json", "record 0", "from"]),
], ids=["integer", "digit string"])
def test_huge_integers_in_a_dataset_file_are_one_line(tmp_path, capsys, test_text, needles):
    folder = dataset(tmp_path / "ds", test_text)
    rc, _, err = cli(capsys, "data", "stats", "--task", "atsa", "--dataset", folder)
    assert_one_line_error(rc, err, *needles)
    from fsa_distill.benchmark.data import load_split

    with pytest.raises(FsaError, match="test.json"):
        load_split("atsa", str(folder), "test")


def test_huge_integer_in_dataset_json_is_one_line(tmp_path, capsys):
    folder = dataset(tmp_path / "ds", info=f'{{"name": "x", "task": "atsa", "n": {BIG}}}')
    rc, _, err = cli(capsys, "data", "stats", "--dataset", folder)
    assert_one_line_error(rc, err, "dataset.json", "digits")


def test_evaluate_names_a_missing_data_dir(tmp_path):
    from fsa_distill.evaluation.commands import eval_dataset

    for data_dir, why in ((tmp_path / "nope", "folder not found"), (tmp_path / "f", "not a folder")):
        (tmp_path / "f").write_text("x")
        args = Namespace(dataset=None, data_dir=str(data_dir), task=None, model="m")
        with pytest.raises(FsaError, match=f"--data-dir {data_dir}: {why}"):
            eval_dataset(args, {})


@pytest.mark.parametrize("name, needle", [
    ("../../../../../../../../etc", "not a dataset folder (no train.json)"),
    ("no-such-dataset", "unknown atsa dataset"),
])
def test_run_dry_run_refuses_a_dataset_that_is_no_dataset_folder_before_planning(tmp_path, capsys, name, needle):
    cfg = tmp_path / "e.yaml"
    cfg.write_text(f"name: e\noutput_dir: {tmp_path}/runs\ngenerate: {{}}\npretrain: {{}}\n"
                   f"tasks: {{atsa: [rest14, '{name}']}}\n", encoding="utf-8")
    rc, out, err = cli(capsys, "run", cfg, "--dry-run")
    assert_one_line_error(rc, err, "e.yaml: tasks.atsa", needle)
    assert "generate" not in out and "pretrain" not in out
    assert not (tmp_path / "runs").exists()


def test_run_dry_run_takes_an_imported_dataset_folder(tmp_path, capsys):
    folder = dataset(tmp_path / "mine")
    cfg = tmp_path / "e.yaml"
    cfg.write_text(f"name: e\noutput_dir: {tmp_path}/runs\ntasks: {{atsa: ['{folder}']}}\nstudents: "
                   "[{name: b, model: tiny}]\n", encoding="utf-8")
    rc, out, err = cli(capsys, "run", cfg, "--dry-run")
    assert rc == 0, err
