"""Pretraining settings of issue 23: one holdout for every pretraining seed; H1's task prefixes."""

from fsa_distill.models import load_student
from fsa_distill.student.prefixes import PRETRAIN_PREFIXES, apply_prefix, task_prefix
from fsa_distill.student.pretrain import PretrainConfig, load_pairs


def _decode(tok, ds, n=None):
    rows = ds["input_ids"]
    return [tok.decode(list(rows[i]), skip_special_tokens=True) for i in range(n or len(ds))]


def _val_sources(cfg, tok):
    return sorted(_decode(tok, load_pairs(cfg, tok)["validation"]))


def test_a_second_pretraining_seed_holds_out_the_same_reviews():
    _, tok = load_student("tiny")
    base = {"output_dir": "x", "data": {"validation_holdout": 50}}
    s42 = _val_sources(PretrainConfig(**base, seed=42), tok)
    s52 = _val_sources(PretrainConfig(**base, seed=52), tok)
    pinned = _val_sources(PretrainConfig(**{**base, "data": {"validation_holdout": 50, "holdout_seed": 42}},
                                         seed=52), tok)
    assert s42 != s52 and pinned == s42


def test_pretraining_prefixes_name_the_kind_of_answer():
    _, tok = load_student("tiny")
    cfg = PretrainConfig(output_dir="x", data={"validation_holdout": 50, "task_prefix": True,
                                               "prefixes": PRETRAIN_PREFIXES})
    data = load_pairs(cfg, tok)
    sources = _decode(tok, data["train"], 40)
    assert all(s.startswith(("analyse:", "rewrite:")) for s in sources)
    plain = _decode(tok, load_pairs(PretrainConfig(output_dir="x", data={"validation_holdout": 50}), tok)["train"], 40)
    assert not any(s.startswith(("analyse:", "rewrite:")) for s in plain)


def test_task_prefix_settings():
    assert task_prefix("atsa", "") == "" and task_prefix("acsa", "task") == "acsa: "
    assert task_prefix("atsa", "predict: ") == "predict: "
    assert apply_prefix(["a", "b"], "atsa: ") == ["atsa: a", "atsa: b"] and apply_prefix(["a"], "") == ["a"]
    import pytest

    from fsa_distill.errors import FsaError

    with pytest.raises(FsaError):
        task_prefix("atsa", "two\nlines")
    with pytest.raises(FsaError):
        task_prefix("nli", "task")
