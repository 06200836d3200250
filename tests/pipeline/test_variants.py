"""Variants, sweeps, fractions and committed results in one experiment file."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fsa_distill.config import load_config
from fsa_distill.errors import FsaError
from fsa_distill.pipeline.config import PipelineConfig
from fsa_distill.pipeline.run import plan, run_pipeline, waves

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "name": "v",
    "generate": {"backend": {"type": "replay"}, "reviews": {"sample": {"n": 12}}},
    "pretrain": {"model": "tiny", "data": {"validation_holdout": 3},
                 "train": {"max_steps": 2, "batch_size": 4, "grad_accum": 1, "eval_steps": 2,
                           "eval_batch_size": 8, "logging_steps": 1}},
    "variants": [{"name": "distilled"},
                 {"name": "analysis-only", "pretrain": {"data": {"kind_weights": {"rewrite": 0.0}}}},
                 {"name": "same-as-distilled", "pretrain": {}}],
    "students": [{"name": "baseline", "model": "tiny"}],
    "seeds": [42, 52],
    "fractions": [0.5],
    "finetune": {"test_limit": 20, "save_model": False, "decode": {"max_length": 8},
                 "train": {"train_limit": 16, "dev_limit": 8, "max_steps": 1, "logging_steps": 1}},
    "sweeps": [{"name": "low", "students": ["baseline", "distilled"]},
               {"name": "ablation", "students": ["baseline", "distilled", "analysis-only", "same-as-distilled"]}],
    "report": {"baseline": "baseline"},
}


def write(tmp_path, **changes) -> Path:
    data = json.loads(json.dumps(BASE))
    data["output_dir"] = str(tmp_path / "exp")
    data.update(changes)
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_variants_plan_shared_stages_once(tmp_path):
    stages = plan(load_config(PipelineConfig, write(tmp_path)))
    kinds = Counter(s.kind for s in stages)
    # one corpus; "same-as-distilled" has distilled's pretraining config, so shares its folder
    assert kinds["generate"] == 1 and kinds["pretrain"] == 2
    pre = {s.name: s for s in stages if s.kind == "pretrain"}
    assert set(pre) == {"pretrain distilled", "pretrain analysis-only"}
    fts = [s for s in stages if s.kind == "finetune"]
    # the ablation sweep repeats baseline and distilled: they are planned once (2 + 2 new students) x 2 seeds
    assert len(fts) == 8 and len({s.out for s in fts}) == 8
    by_student = Counter(s.out.parent.name for s in fts)
    assert by_student == {"baseline": 2, "distilled": 2, "analysis-only": 2, "same-as-distilled": 2}
    same = next(s for s in fts if s.out.parent.name == "same-as-distilled")
    assert same.deps == ["pretrain distilled"] and same.config.model.endswith("final_model")
    assert all(s.config.train.data_fraction == 0.5 and "-frac0.5-" in s.out.name for s in fts)
    assert next(s for s in fts if s.out.parent.name == "baseline").deps == []
    # seed-major: both students of seed 42 come before any seed-52 run
    low = [s for s in fts if s.sweep == "low"]
    assert [s.config.seed for s in low] == [42, 42, 52, 52]


def test_a_sweeps_pretrainings_run_just_before_it(tmp_path):
    stages = plan(load_config(PipelineConfig, write(tmp_path)))
    (s1, up1, todo1), (s2, up2, todo2) = waves(stages)
    assert (s1, [s.name for s in up1]) == ("low", ["generate", "pretrain distilled"])
    assert (s2, [s.name for s in up2]) == ("ablation", ["pretrain analysis-only"])
    assert len(todo1) == 4 and len(todo2) == 4


def test_full_data_keeps_the_old_folder_names(tmp_path):
    """Without fractions the fine-tuning folders and hashes are what they were before sweeps."""
    p = write(tmp_path, fractions=[1.0], sweeps=[], variants=[], students=[{"name": "baseline", "model": "tiny"}])
    (ft,) = [s for s in plan(load_config(PipelineConfig, p)) if s.kind == "finetune"][:1]
    assert ft.out.name.startswith("atsa-rest14-seed42-") and ft.name == "baseline atsa/rest14 seed 42"
    assert ft.config.train.data_fraction == 1.0


@pytest.mark.parametrize("change, message", [
    ({"students": [{"name": "../../x", "model": "tiny"}]}, "plain folder name"),
    ({"sweeps": [{"name": "s", "students": ["nobody"]}]}, "unknown students"),
    ({"fractions": [1.5]}, "not in (0, 1]"),
    ({"finetune": {"train": {"data_fraction": 0.1}}}, "use `fractions`"),
    ({"students": [{"name": "b", "model": "@pretrained"}]}, "drop the @pretrained student"),
    ({"students": [{"name": "b", "model": "@nobody"}]}, "an @-name is @pretrained or a variant"),
    ({"students": [{"name": "baseline", "model": "tiny", "finetune": {"seed": 1}}]}, "finetune.seed is set by the pipeline"),
    ({"zeroshot": {"students": ["nobody"]}}, "zeroshot: unknown students"),
    ({"zeroshot": {"settings": {"model": "tiny"}}}, "set by the pipeline"),
])
def test_bad_experiment_files_are_one_line_errors(tmp_path, change, message):
    with pytest.raises(FsaError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_config(PipelineConfig, write(tmp_path, **change))


@pytest.mark.parametrize("change, message", [
    ({"finetune": {"train": {"epochs": "many"}}}, "finetune: train.epochs: Input should be a valid number"),
    ({"sweeps": [{"name": "s", "finetune": {"tran": {}}}]}, "sweeps.0.finetune: tran: unknown key"),
    ({"variants": [{"name": "v", "pretrain": {"train": {"max_step": 5}}}]},
     "variants.0.pretrain: train.max_step: unknown key"),
    ({"variants": [{"name": "v", "pretrain": {"output_dir": "x"}}]}, "pretrain.output_dir is set by the pipeline"),
    ({"generate": {"generation": {"concurrency": "many"}}}, "generate: generation.concurrency"),
    ({"zeroshot": {"settings": {"limit": 0}}}, "zeroshot.settings: limit: Input should be greater than or equal to 1"),
    ({"students": [{"name": "b", "model": "tiny", "finetune": {"multitask": {"alpha": 0.5}}}]},
     "student b: finetune: multitask: unknown key"),
])
def test_stage_sections_are_typed_by_the_stages_own_configs(tmp_path, change, message):
    """Each section, and each change a variant, sweep or student makes to one, is validated by its
    stage's config class when the file loads, and the error names its place in the file."""
    with pytest.raises(FsaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(PipelineConfig, write(tmp_path, **change))


def test_a_multitask_students_section_is_typed_by_the_multitask_config(tmp_path):
    student = {"name": "mt", "model": "tiny", "recipe": "multitask", "finetune": {"multitask": {"alpha": 0.25}}}
    cfg = load_config(PipelineConfig, write(tmp_path, students=[student], sweeps=[], variants=[], fractions=[1.0]))
    assert cfg.students[0].finetune == {"multitask": {"alpha": 0.25}}  # kept as written (hashed so)
    assert {type(s.config).__name__ for s in plan(cfg) if s.kind == "finetune"} == {"MultitaskConfig"}
    with pytest.raises(FsaError, match="multitask.alpha: Input should be less than or equal to 1"):
        load_config(PipelineConfig, write(tmp_path, students=[{**student, "finetune": {"multitask": {"alpha": 2}}}]))


def test_sections_are_kept_as_written_for_the_folder_hash(tmp_path):
    """An integer stays an integer: the hash of `epochs: 20` is not that of `epochs: 20.0`."""
    cfg = load_config(PipelineConfig, write(tmp_path, finetune={"train": {"epochs": 20}}))
    assert cfg.finetune == {"train": {"epochs": 20}} and type(cfg.finetune["train"]["epochs"]) is int


def test_shipped_evidence_experiment_plans_every_part():
    cfg = load_config(PipelineConfig, ROOT / "configs" / "experiments" / "evidence-cpu.yaml")
    stages = plan(cfg)
    kinds = Counter(s.kind for s in stages)
    assert kinds == {"generate": 1, "pretrain": 5, "finetune": 30 + 20 + 6}
    fts = [s for s in stages if s.kind == "finetune"]
    low = [s for s in fts if s.sweep == "low-resource"]
    assert {(s.config.task, s.config.dataset) for s in low} == {("atsa", "rest14"), ("atsa", "laptop14"), ("acsa", "rest16")}
    assert {s.config.seed for s in low} == {42, 52, 62, 72, 82} and {s.config.train.data_fraction for s in low} == {0.1}
    full = [s for s in fts if s.sweep == "full"]
    assert {s.config.train.data_fraction for s in full} == {1.0} and {s.config.seed for s in full} == {42, 52, 62}
    assert all(s.config.train.epochs == 5 and s.config.train.eval_every_epochs == 1 for s in full)


@pytest.mark.slow
def test_committed_results_continue_on_a_new_machine(tmp_path):
    """A run with results_dir, then its run folder deleted (a new machine with only the committed
    records): nothing trains again, and the report still has every row."""
    p = write(tmp_path, results_dir=str(tmp_path / "committed"), seeds=[42],
              sweeps=[{"name": "low", "students": ["baseline", "distilled"]}],
              variants=[{"name": "distilled"}])
    first = run_pipeline(load_config(PipelineConfig, p), progress=False)
    committed = tmp_path / "committed"
    assert (committed / "report.md").is_file() and (committed / "f1_by_view.png").is_file()
    records = sorted(committed.glob("runs/finetune/*/*/metrics.json"))
    assert len(records) == 2
    assert not list(committed.rglob("*.safetensors"))  # small files only
    assert (next(committed.glob("runs/pretrain-*")) / "loss_curve.json").is_file()

    shutil.rmtree(tmp_path / "exp")
    stages = plan(load_config(PipelineConfig, p))
    status = {s.name: s.status for s in stages}
    assert status == {"generate": "not needed", "pretrain distilled": "not needed",
                      "baseline atsa/rest14 50% seed 42": "committed", "distilled atsa/rest14 50% seed 42": "committed"}
    partial = run_pipeline(load_config(PipelineConfig, p), progress=False, report_only=True)
    assert [r["f1_mean"] for r in partial["report"]["rows"]] == [r["f1_mean"] for r in first["report"]["rows"]]
    second = run_pipeline(load_config(PipelineConfig, p), progress=False)
    assert not list((tmp_path / "exp").glob("pretrain-*/final_model"))  # nothing was retrained
    assert [r["f1_mean"] for r in second["report"]["rows"]] == [r["f1_mean"] for r in first["report"]["rows"]]
