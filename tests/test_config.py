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
