"""Issue 23's variants plan the stages they should: prefixes move folders only where they change
the inputs, multi-task is one stage, the extractive student starts from a variant's pretraining,
zero-shot stages read the starting models, and the shipped v2 experiment plans every part."""

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fsa_distill.config import load_config
from fsa_distill.errors import FsaError
from fsa_distill.pipeline.config import PipelineConfig
from fsa_distill.pipeline.run import plan, waves

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "name": "v",
    "generate": {"backend": {"type": "replay"}, "reviews": {"sample": {"n": 12}}},
    "pretrain": {"model": "tiny", "data": {"validation_holdout": 3},
                 "train": {"max_steps": 2, "batch_size": 4, "grad_accum": 1, "eval_steps": 2,
                           "eval_batch_size": 8, "logging_steps": 1}},
    "variants": [{"name": "distilled"}],
    "students": [{"name": "baseline", "model": "tiny"}],
    "seeds": [42, 52],
    "fractions": [0.5],
    "finetune": {"test_limit": 20, "save_model": False, "decode": {"max_length": 8},
                 "train": {"train_limit": 16, "dev_limit": 8, "max_steps": 1, "logging_steps": 1}},
    "report": {"baseline": "baseline"},
}
PREFIXES = {"task_prefix": True, "prefixes": {"analysis": "analyse: ", "rewrite": "rewrite: "}}


def stages_of(tmp_path, **changes):
    data = json.loads(json.dumps(BASE))
    data["output_dir"] = str(tmp_path / "exp")
    data.update(changes)
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    return plan(load_config(PipelineConfig, p))


def folders(stages, kind=None):
    return {s.name: s.out for s in stages if kind is None or s.kind == kind}


def test_a_prefix_variant_moves_only_its_own_pretraining_and_fine_tunings(tmp_path):
    before = folders(stages_of(tmp_path))
    after_stages = stages_of(tmp_path, variants=[
        {"name": "distilled"},
        {"name": "prefixed", "pretrain": {"data": PREFIXES}, "finetune": {"prefix": "task"}}])
    after = folders(after_stages)
    assert {k: after[k] for k in before} == before  # corpus, pretraining, baseline and distilled unchanged
    new = set(after) - set(before)
    assert new == {"pretrain prefixed"} | {f"prefixed atsa/rest14 50% seed {s}" for s in (42, 52)}
    pre = next(s for s in after_stages if s.name == "pretrain prefixed")
    assert pre.config.data.task_prefix and pre.config.data.prefixes["analysis"] == "analyse: "
    ft = [s for s in after_stages if s.name.startswith("prefixed ")]
    assert all(s.config.prefix == "task" and s.deps == ["pretrain prefixed"] for s in ft)


def test_a_prefix_only_in_fine_tuning_keeps_the_pretraining_folder(tmp_path):
    stages = stages_of(tmp_path, variants=[{"name": "distilled"},
                                           {"name": "distilled-ftprefix", "finetune": {"prefix": "task"}}])
    pre = [s for s in stages if s.kind == "pretrain"]
    assert len(pre) == 1  # same pretraining config: one folder, shared
    ft = {s.name: s for s in stages if s.kind == "finetune"}
    a, b = ft["distilled atsa/rest14 50% seed 42"], ft["distilled-ftprefix atsa/rest14 50% seed 42"]
    assert a.deps == b.deps and a.out.name != b.out.name  # inputs differ: its own fine-tuning folder


def test_a_variant_with_its_own_early_stopping_shares_the_pretraining(tmp_path):
    """evidence-v2-cpu's sensitivity check: the same pretraining, fine-tuned with patience counted
    only after epoch 10, in its own fine-tuning folders."""
    stages = stages_of(tmp_path, variants=[
        {"name": "distilled"}, {"name": "distilled-pf10", "finetune": {"train": {"patience_from_epoch": 10}}}])
    assert len([s for s in stages if s.kind == "pretrain"]) == 1
    ft = {s.name: s for s in stages if s.kind == "finetune"}
    a, b = ft["distilled atsa/rest14 50% seed 42"], ft["distilled-pf10 atsa/rest14 50% seed 42"]
    assert a.deps == b.deps and a.out.name != b.out.name
    assert (a.config.train.patience_from_epoch, b.config.train.patience_from_epoch) == (0, 10)
    assert b.config.train.max_steps == 1  # the experiment's other train settings still apply


def test_writing_out_the_defaults_moves_no_folder(tmp_path):
    """prefix: '' and a holdout seed equal to the pretraining's seed change no input: no new hash."""
    before = folders(stages_of(tmp_path))
    same = folders(stages_of(tmp_path, variants=[{"name": "distilled", "finetune": {"prefix": ""},
                                                  "pretrain": {"data": {"holdout_seed": 42}}}],
                             students=[{"name": "baseline", "model": "tiny", "finetune": {"prefix": ""}}]))
    assert same == before
    seeded = stages_of(tmp_path, variants=[{"name": "distilled"},
                                           {"name": "distilled-p52", "pretrain": {"seed": 52, "data": {"holdout_seed": 42}}}])
    pre = {s.name: s for s in seeded if s.kind == "pretrain"}
    assert pre["pretrain distilled-p52"].out != pre["pretrain distilled"].out
    assert pre["pretrain distilled-p52"].config.data.holdout_seed == 42


def test_a_prefix_on_two_lines_is_refused_when_planned(tmp_path):
    with pytest.raises(FsaError, match="must be text on one line"):
        stages_of(tmp_path, variants=[{"name": "distilled", "finetune": {"prefix": "atsa:\nx"}}])


def test_multitask_is_one_stage_per_grid_point_without_pretraining(tmp_path):
    from fsa_distill.student.multitask import MultitaskConfig

    stages = stages_of(tmp_path, students=[
        {"name": "baseline", "model": "tiny"},
        {"name": "multitask", "model": "tiny", "recipe": "multitask", "finetune": {"multitask": {"alpha": 0.5}}},
        {"name": "multitask-default", "model": "tiny", "recipe": "multitask"}])
    mt = [s for s in stages if s.out.parent.name == "multitask"]
    assert len(mt) == 2 and all(s.kind == "finetune" and s.deps == [] for s in mt)  # 2 seeds, one stage each
    assert all(isinstance(s.config, MultitaskConfig) and s.config.prefix == "predict: " for s in mt)
    base = {s.config.seed: s for s in stages if s.out.parent.name == "baseline"}
    default = {s.config.seed: s for s in stages if s.out.parent.name == "multitask-default"}
    # same grid point and fine-tuning settings as the baseline, but another recipe: another hash
    assert base[42].out.name != default[42].out.name
    assert base[42].out.name.rsplit("-", 1)[0] == default[42].out.name.rsplit("-", 1)[0]
    assert not isinstance(base[42].config, MultitaskConfig)
    # the job runs through the multi-task module, not `fsa-distill finetune`
    from fsa_distill.pipeline.run import _job_command

    assert _job_command(mt[0]) == ["fsa_distill.student.multitask"]
    assert _job_command(base[42]) == ["fsa_distill.cli", "finetune"]


def test_multitask_with_silver_labels_on_acsa_is_refused_at_planning(tmp_path):
    with pytest.raises(FsaError, match="ATSA only"):
        stages_of(tmp_path, tasks={"acsa": ["rest16"]}, students=[
            {"name": "baseline", "model": "tiny"},
            {"name": "silver", "model": "tiny", "recipe": "multitask", "finetune": {"multitask": {"silver": "beside"}}}])


def test_an_extractive_student_starts_from_a_variants_pretraining(tmp_path):
    from fsa_distill.student.finetune import FinetuneConfig

    if "family" not in FinetuneConfig.model_fields:
        pytest.skip("the extractive family (issue 22) is not in FinetuneConfig in this checkout")
    stages = stages_of(tmp_path, students=[{"name": "baseline", "model": "tiny"},
                                           {"name": "tagger-distilled", "model": "@distilled", "family": "extractive"}])
    td = [s for s in stages if s.out.parent.name == "tagger-distilled"]
    pre = next(s for s in stages if s.name == "pretrain distilled")
    assert len(td) == 2 and all(s.deps == ["pretrain distilled"] for s in td)
    assert all(s.config.model == str(pre.out / "final_model") and s.config.family == "extractive" for s in td)
    distilled = {s.config.seed: s for s in stages if s.out.parent.name == "distilled"}
    assert distilled[42].out.name != td[0].out.name  # another family: another folder


def test_zero_shot_stages_read_the_starting_models_and_run_last(tmp_path):
    stages = stages_of(tmp_path, zeroshot={"datasets": ["sst2", "teacher-heldout"], "settings": {"limit": 8}})
    zs = [s for s in stages if s.kind == "zeroshot"]
    assert sorted(s.name for s in zs) == ["zeroshot baseline sst2", "zeroshot baseline teacher-heldout",
                                          "zeroshot distilled sst2", "zeroshot distilled teacher-heldout"]
    by = {s.name: s for s in zs}
    pre = next(s for s in stages if s.name == "pretrain distilled")
    assert by["zeroshot distilled sst2"].deps == ["pretrain distilled"]
    assert by["zeroshot distilled sst2"].config.model == str(pre.out / "final_model")
    assert by["zeroshot baseline sst2"].config.model == "tiny" and by["zeroshot baseline sst2"].deps == []
    assert all(s.config.limit == 8 and s.config.label in ("baseline", "distilled") for s in zs)
    assert waves(stages)[-1][0] == "zeroshot" and {s.name for s in waves(stages)[-1][2]} == set(by)
    with pytest.raises(FsaError, match="no starting model"):
        stages_of(tmp_path, students=[{"name": "baseline", "model": "tiny"},
                                      {"name": "mt", "model": "tiny", "recipe": "multitask"}],
                  zeroshot={"students": ["mt"]})


def test_a_zero_shot_stage_runs_and_is_reported(tmp_path):
    from fsa_distill.pipeline.run import run_pipeline

    data = json.loads(json.dumps(BASE))
    data.update(output_dir=str(tmp_path / "exp"), variants=[], generate=None, pretrain=None,
                zeroshot={"datasets": ["teacher-heldout"], "settings": {"limit": 6, "methods": ["label-words"]}})
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
    cfg = load_config(PipelineConfig, p, ["seeds=[42]", "tasks={atsa: [rest14]}"])
    result = run_pipeline(cfg, progress=False)
    assert "## Does the student match its teacher" in result["report"]["markdown"]
    again = plan(cfg)
    assert all(s.done for s in again)  # the zero-shot stage is finished on a second plan


def test_the_shipped_v2_experiment_plans_every_part(monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(PipelineConfig, ROOT / "configs/experiments/evidence-v2-cpu.yaml")
    stages = plan(cfg)
    kinds = Counter(s.kind for s in stages)
    pre = [s for s in stages if s.kind == "pretrain"]
    # every pretraining variant has at least 2 pretraining seeds, all holding out the same reviews
    by_variant = Counter(s.name.split()[1].rsplit("-p", 1)[0] for s in pre)
    assert by_variant and all(n >= 2 for n in by_variant.values()), by_variant
    assert {s.config.data.holdout_seed or s.config.seed for s in pre} == {42}
    ft = [s for s in stages if s.kind == "finetune"]
    students = {s.out.parent.name for s in ft}
    assert {"baseline", "multitask"} <= students
    assert kinds["zeroshot"] >= 2 * 3  # at least two starting models on sst2, yelp2 and teacher-heldout
    assert cfg.report.baseline == "baseline"


def test_pretraining_seeds_of_a_variant_alternate_over_the_fine_tuning_seeds(tmp_path):
    before = folders(stages_of(tmp_path), "pretrain")
    stages = stages_of(tmp_path, seeds=[42, 52, 62],
                       variants=[{"name": "distilled", "pretrain_seeds": [42, 52]}],
                       zeroshot={"datasets": ["sst2"]})
    pre = [s for s in stages if s.kind == "pretrain"]
    assert [s.name for s in pre] == ["pretrain distilled seed 42", "pretrain distilled seed 52"]
    # the first seed is the section's own: the very folder of the one-pretraining variant
    assert pre[0].out == before["pretrain distilled"]
    assert [s.config.seed for s in pre] == [42, 52] and all(s.config.data.holdout_seed in (None, 42) for s in pre)
    ft = {s.config.seed: s for s in stages if s.kind == "finetune" and s.out.parent.name == "distilled"}
    assert [ft[k].deps for k in (42, 52, 62)] == [[pre[0].name], [pre[1].name], [pre[0].name]]
    assert ft[52].config.model == str(pre[1].out / "final_model")
    zs = sorted(s.name for s in stages if s.kind == "zeroshot" and s.name.startswith("zeroshot distilled"))
    assert zs == ["zeroshot distilled (pretraining 1) sst2", "zeroshot distilled (pretraining 2) sst2"]
    with pytest.raises(FsaError, match="pretrain_seeds must be distinct"):
        stages_of(tmp_path, variants=[{"name": "distilled", "pretrain_seeds": [42, 42]}])


def test_a_students_own_zero_shot_settings(tmp_path):
    stages = stages_of(tmp_path, zeroshot={"datasets": ["sst2"], "settings": {"limit": 5},
                                           "student_settings": {"distilled": {"analysis": {"template": "analyse: {text}"}}}})
    by = {s.name: s.config for s in stages if s.kind == "zeroshot"}
    assert by["zeroshot distilled sst2"].analysis.template == "analyse: {text}"
    assert by["zeroshot baseline sst2"].analysis.template == "{text}" and by["zeroshot distilled sst2"].limit == 5


@pytest.mark.slow
def test_a_tiny_v2_experiment_runs_end_to_end_in_subprocesses(tmp_path):
    """Every new kind of stage runs, in its own process (--jobs 2), and lands in the report."""
    from fsa_distill.pipeline.run import run_pipeline
    data = json.loads(json.dumps(BASE))
    data.update(output_dir=str(tmp_path / "exp"), seeds=[42], jobs=2, variants=[
        {"name": "prefixed", "pretrain": {"data": PREFIXES}, "finetune": {"prefix": "task"}}],
        students=[{"name": "baseline", "model": "tiny"},
                  {"name": "multitask", "model": "tiny", "recipe": "multitask",
                   "finetune": {"multitask": {"mix_ratio": 0.5}}}],
        zeroshot={"datasets": ["teacher-heldout"], "settings": {"methods": ["label-words"]},
                  "student_settings": {"prefixed": {"label_words": {"template": "analyse: {text}"}}}})
    data["finetune"]["train"]["max_steps"] = 2
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    cfg = load_config(PipelineConfig, p)
    result = run_pipeline(cfg, progress=False)
    md = result["report"]["markdown"]
    assert "| multitask | baseline | atsa/rest14 @50% train | normal |" in md
    assert "| prefixed | baseline | atsa/rest14 @50% train | normal |" in md
    assert "## Does the student match its teacher" in md and "| prefixed | label-words |" in md
    mt = next(s for s in result["stages"] if s.out.parent.name == "multitask")
    info = json.loads((mt.out / "run_info.json").read_text())
    assert info["recipe"] == "multitask" and info["multitask"]["teacher_examples"] == 8  # 0.5 x 16 gold (train_limit)
    pre = next(s for s in result["stages"] if s.out.parent.name == "prefixed")
    assert json.loads((pre.out / "run_info.json").read_text())["steps"] == 2
    assert all(s.done for s in plan(cfg))  # nothing left to run


def test_students_runs_only_those_students_and_the_pretraining_they_need(tmp_path):
    """`run --students`: the other students' stages are planned in their own folders (a later run
    continues them) but skipped, and so is a pretraining only they read."""
    data = json.loads(json.dumps(BASE))
    data["output_dir"] = str(tmp_path / "exp")
    data["variants"] = [{"name": "distilled"}, {"name": "prefixed", "finetune": {"prefix": "task"},
                                               "pretrain": {"data": {"task_prefix": True}}}]
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    cfg = load_config(PipelineConfig, p)
    everything = {s.name: s.out for s in plan(cfg)}
    chosen = plan(cfg, ["distilled"])
    assert {s.name: s.out for s in chosen} == everything  # the same folders
    to_run = {s.name for s in chosen if not s.done}
    assert to_run == {"generate", "pretrain distilled", "distilled atsa/rest14 50% seed 42",
                      "distilled atsa/rest14 50% seed 52"}
    assert {s.status for s in chosen if s.done} == {"not selected", "not needed"}
    with pytest.raises(FsaError, match=r"--students: 'prefix' is not a student of this experiment "
                                       r"\(its students: baseline, distilled, prefixed\)"):
        plan(cfg, ["prefix"])
