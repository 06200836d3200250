"""The run-folder contract (runs.py): one writer and one "finished with this config" check."""

import json

import pytest
import yaml

from fsa_distill import runs
from fsa_distill.errors import FsaError
from fsa_distill.student.finetune import FinetuneConfig
from fsa_distill.student.pretrain import PretrainConfig


def test_finished_needs_the_done_file_and_the_same_config(tmp_path):
    cfg = FinetuneConfig(output_dir=str(tmp_path), seed=7)
    runs.write_config(cfg, tmp_path)
    assert not runs.finished(tmp_path, cfg, "finetune")  # no metrics.json yet
    runs.write_run_record(tmp_path, {"kind": "finetune", "task": "atsa", "dataset": "rest14", "seed": 7}, {})
    assert runs.finished(tmp_path, cfg, "finetune")
    assert not runs.finished(tmp_path, FinetuneConfig(output_dir=str(tmp_path), seed=8), "finetune")


def test_a_killed_write_of_metrics_json_is_not_taken_as_finished(tmp_path):
    """A metrics.json cut short (the process killed while writing it, the disk full) is not a
    finished run: `finished` says no (so the stage reruns) and `find_runs` skips it."""
    cfg = FinetuneConfig(output_dir=str(tmp_path), seed=7)
    runs.write_config(cfg, tmp_path)
    runs.write_run_record(tmp_path, {"kind": "finetune", "task": "atsa", "seed": 7}, {"normal": {"f1": 0.5}})
    whole = (tmp_path / "metrics.json").read_text()
    for cut in (whole[: len(whole) // 2], "", "[]"):
        (tmp_path / "metrics.json").write_text(cut)
        assert not runs.finished(tmp_path, cfg, "finetune"), repr(cut)
        assert runs.find_runs([tmp_path]) == []
    (tmp_path / "metrics.json").write_text(whole)
    assert runs.finished(tmp_path, cfg, "finetune")
    assert [r["metrics"] for r in runs.find_runs([tmp_path])] == [{"normal": {"f1": 0.5}}]


def test_done_files_are_written_atomically(tmp_path, monkeypatch):
    """metrics.json goes through a temporary file and a rename: a write killed before the rename
    leaves no metrics.json at all."""
    import os

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies between writing the temporary file and the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        runs.write_run_record(tmp_path, {"kind": "finetune"}, {"normal": {"f1": 0.5}})
    assert (tmp_path / "run_info.json").exists() and not (tmp_path / "metrics.json").exists()
    assert runs.find_runs([tmp_path]) == []


def test_a_config_written_before_a_key_was_renamed_still_matches(tmp_path):
    """A pretraining folder written with `train.lr`/`train.bf16` is the run `learning_rate`/`precision` asks for."""
    cfg = PretrainConfig(output_dir=str(tmp_path), train={"learning_rate": 3e-4, "precision": "auto"})
    old = cfg.model_dump(mode="json")
    old["train"]["lr"] = old["train"].pop("learning_rate")
    old["train"]["bf16"] = old["train"].pop("precision")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert runs.same_config(tmp_path / "config.yaml", cfg)
    old["train"]["lr"] = 1e-3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert not runs.same_config(tmp_path / "config.yaml", cfg)


def test_a_run_record_that_breaks_the_schema_fails_when_written_and_when_read(tmp_path):
    with pytest.raises(FsaError, match="run_info: kind: Field required"):
        runs.write_run_record(tmp_path, {"task": "atsa"}, {})  # no kind
    assert not (tmp_path / "metrics.json").exists()
    (tmp_path / "run_info.json").write_text(json.dumps({"kind": "finetune", "seed": "not a number"}))
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(FsaError, match="run_info.json: seed"):
        runs.find_runs([tmp_path])


def test_find_runs_fills_defaults_and_skips_unfinished(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    runs.write_run_record(tmp_path / "a", {"kind": "finetune", "label": "x", "task": "atsa"}, {"normal": {}})
    (tmp_path / "b" / "run_info.json").write_text(json.dumps({"kind": "finetune"}))  # no metrics: unfinished
    found = runs.find_runs([tmp_path])
    assert [r["dir"] for r in found] == [str(tmp_path / "a")]
    assert found[0]["info"]["data_fraction"] == 1.0 and found[0]["info"]["seed"] == 0


def test_curves_are_json_and_csv(tmp_path):
    runs.write_curve(tmp_path, "dev_curve", [{"epoch": 1, "dev_f1": 0.5}, {"epoch": 2, "dev_f1": 0.6}])
    assert json.loads((tmp_path / "dev_curve.json").read_text())[1]["dev_f1"] == 0.6
    assert (tmp_path / "dev_curve.csv").read_text().splitlines() == ["epoch,dev_f1", "1,0.5", "2,0.6"]
