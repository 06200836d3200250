"""Validation before the first expensive step: an unknown view, a missing test.json, an output
path that is a file are found before the model loads (they were found after training), and
nothing is created or trained."""

from __future__ import annotations

import shutil
import time

import pytest
from helpers import assert_one_line_error, cli

from fsa_distill.resources import benchmark_dir


def _no_model_load(monkeypatch):
    """Fail the test if the student is loaded: every check here must come first."""
    import fsa_distill.models as models

    def boom(*a, **k):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(models, "load_student", boom)


def test_finetune_unknown_view_before_training(tmp_path, capsys, monkeypatch):
    _no_model_load(monkeypatch)
    run = tmp_path / "run"
    rc, _, err = cli(capsys, "finetune", f"output_dir={run}", "views=[normal,nrmal]")
    assert_one_line_error(rc, err, "unknown view 'nrmal'")
    assert not run.exists()


def test_finetune_missing_test_json_before_training(tmp_path, capsys, monkeypatch):
    _no_model_load(monkeypatch)
    data = tmp_path / "data" / "atsa" / "rest14"
    data.mkdir(parents=True)
    for split in ("train", "dev", "hard_test"):
        shutil.copy(benchmark_dir() / "atsa" / "rest14" / f"{split}.json.gz", data)
    run = tmp_path / "run"
    t0 = time.perf_counter()
    rc, _, err = cli(capsys, "finetune", f"output_dir={run}", f"data_dir={tmp_path / 'data'}")
    assert_one_line_error(rc, err, "test.json")
    assert not run.exists() and time.perf_counter() - t0 < 30


@pytest.mark.parametrize("command,key", [("finetune", "output_dir"), ("generate", "output_dir"),
                                         ("pretrain", "output_dir")])
def test_output_folder_that_is_a_regular_file(tmp_path, capsys, monkeypatch, command, key):
    _no_model_load(monkeypatch)
    f = tmp_path / "results"
    f.write_text("my own file\n")
    rc, _, err = cli(capsys, command, f"{key}={f}")
    assert_one_line_error(rc, err, f"{f}: is a file, not a folder")
    assert f.read_text() == "my own file\n"


def test_finetune_a_missing_model_folder_before_anything(tmp_path, capsys):
    rc, _, err = cli(capsys, "finetune", f"output_dir={tmp_path / 'run'}", f"model={tmp_path / 'nope'}")
    assert_one_line_error(rc, err, "no such folder")
    assert not (tmp_path / "run").exists()


def test_finetune_with_a_folder_as_its_config(tmp_path, capsys):
    rc, _, err = cli(capsys, "finetune", "/tmp")
    assert_one_line_error(rc, err, "/tmp: is a folder, not a config file")


def test_score_predictions_that_is_a_folder(tmp_path, capsys):
    rc, _, err = cli(capsys, "score", "--task", "atsa", "--dataset", "rest14", "--predictions", tmp_path)
    assert_one_line_error(rc, err, f"{tmp_path}: is a folder, not a file")


def test_pretrain_missing_corpus_before_loading_the_student(tmp_path, capsys, monkeypatch):
    _no_model_load(monkeypatch)
    rc, _, err = cli(capsys, "pretrain", f"output_dir={tmp_path / 'run'}", f"data.corpus={tmp_path / 'nope.jsonl'}")
    assert_one_line_error(rc, err, "nope.jsonl: corpus file or folder not found")
