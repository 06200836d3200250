import pytest

from fsa_distill.config import load_config, parse_override
from fsa_distill.errors import FsaError
from fsa_distill.student.finetune import FinetuneConfig


def test_overrides_are_typed():
    assert parse_override("train.learning_rate=3e-4") == (["train", "learning_rate"], 3e-4)
    assert parse_override("save_model=false") == (["save_model"], False)
    assert parse_override("dataset=rest14") == (["dataset"], "rest14")


def test_yaml_plus_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("task: acsa\ndataset: rest16\ntrain:\n  epochs: 3\n")
    cfg = load_config(FinetuneConfig, p, ["train.epochs=5", "seed=52"])
    assert (cfg.task, cfg.dataset, cfg.train.epochs, cfg.seed, cfg.train.learning_rate) == ("acsa", "rest16", 5, 52, 3e-4)


@pytest.mark.parametrize("text,match", [
    ("train:\n  epocs: 3\n", r"c.yaml: train.epocs: unknown key"),
    ("train:\n  epochs: three\n", r"c.yaml: train.epochs: .*valid number.*'three'"),
    ("task: nli\n", r"c.yaml: task: "),
    ("task: [atsa\n", r"c.yaml: line \d+ invalid YAML"),
    ("- a\n- b\n", r"expected a mapping"),
])
def test_bad_configs_are_one_line_errors(tmp_path, text, match):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(FsaError, match=match) as e:
        load_config(FinetuneConfig, p)
    assert "\n" not in str(e.value)


def test_missing_config_file():
    with pytest.raises(FsaError, match="config file not found"):
        load_config(FinetuneConfig, "nope.yaml")


def test_renamed_keys_are_accepted_with_one_warning(tmp_path, caplog):
    """`train.lr`, `train.bf16` (pretrain), `out` (generate), `output` (llm-eval, zeroshot): one name
    per setting across stages, the old one still read for a release."""
    import logging

    from fsa_distill import config
    from fsa_distill.student.pretrain import PretrainConfig
    from fsa_distill.teacher.config import GenerateConfig

    config._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="fsa_distill.config"):
        cfg = load_config(PretrainConfig, None, [f"output_dir={tmp_path}", "train.lr=0.01", "train.bf16=false"])
        load_config(PretrainConfig, None, [f"output_dir={tmp_path}", "train.lr=0.02"])
    assert cfg.train.learning_rate == 0.01 and cfg.train.precision == "fp32"
    warned = [r.getMessage() for r in caplog.records]
    assert len([m for m in warned if "'lr'" in m]) == 1 and any("'learning_rate'" in m for m in warned)
    assert GenerateConfig(out=str(tmp_path)).output_dir == str(tmp_path)
    with pytest.raises(FsaError, match="lr and learning_rate are the same setting"):
        load_config(PretrainConfig, None, [f"output_dir={tmp_path}", "train.lr=0.01", "train.learning_rate=0.02"])


def test_flags_merge_section_by_section_and_overrides_win(tmp_path):
    from fsa_distill.config import deep_merge

    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\ntrain: {epochs: 3, learning_rate: 0.1}\n")
    cfg = load_config(FinetuneConfig, path, ["train.epochs=5"], flags={"train": {"learning_rate": 0.2, "batch_size": None},
                                                                       "seed": None})
    assert (cfg.seed, cfg.train.epochs, cfg.train.learning_rate, cfg.train.batch_size) == (1, 5, 0.2, 16)
    base = {"a": {"b": [1]}}
    merged = deep_merge(base, {"a": {"c": 2}})
    merged["a"]["b"].append(3)
    assert base == {"a": {"b": [1]}} and merged == {"a": {"b": [1, 3], "c": 2}}
