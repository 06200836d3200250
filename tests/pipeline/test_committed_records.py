"""The evidence committed under docs/results/ is recognised as committed: a new machine with an
empty runs/ folder plans every recorded fine-tuning as done, and rebuilds no pretraining for it."""

from pathlib import Path

from fsa_distill.config import load_config
from fsa_distill.pipeline.config import PipelineConfig
from fsa_distill.pipeline.plan import plan

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_evidence_cpu_records_are_recognised(tmp_path, monkeypatch):
    # results_dir (docs/results/{name}) and output_dir (runs/{name}) are relative: a fresh checkout
    # is the repository's docs/ and no runs/ at all
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(PipelineConfig, ROOT / "configs" / "experiments" / "evidence-cpu.yaml")
    assert not Path(cfg.run_dir()).exists()
    stages = plan(cfg)
    finetunes = [s for s in stages if s.kind == "finetune"]
    assert len(finetunes) == 56 and {s.status for s in finetunes} == {"committed"}
    assert {s.status for s in stages if s.kind != "finetune"} == {"not needed"}
