"""Every YAML under configs/ validates against the config class of its stage."""

from pathlib import Path

import pytest

from fsa_distill.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def config_class(path: Path):
    stage = path.relative_to(CONFIGS).parts[0]
    if stage == "finetune":
        from fsa_distill.student.finetune import FinetuneConfig
        return FinetuneConfig
    if stage == "pretrain":
        from fsa_distill.student.pretrain import PretrainConfig
        return PretrainConfig
    if stage == "generate":
        from fsa_distill.teacher.config import GenerateConfig
        return GenerateConfig
    if stage == "zeroshot":
        from fsa_distill.evaluation.zeroshot import ZeroShotConfig
        return ZeroShotConfig
    if stage == "llm-eval":
        from fsa_distill.evaluation.llm_eval import LLMEvalConfig
        return LLMEvalConfig
    from fsa_distill.pipeline.config import PipelineConfig
    return PipelineConfig


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_validates(path):
    cls = config_class(path)
    cfg = load_config(cls, path)
    from fsa_distill.pipeline.config import PipelineConfig, check_datasets

    if isinstance(cfg, PipelineConfig):
        check_datasets(cfg, str(path))
        from fsa_distill.pipeline.run import plan

        assert plan(cfg)  # every stage builds its own config
