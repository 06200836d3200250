"""`fsa-distill run` end to end on tiny settings: every stage, skipping, resuming, re-planning."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from fsa_distill.config import load_config
from fsa_distill.pipeline.config import PipelineConfig
from fsa_distill.pipeline.run import plan, run_pipeline

TINY = {
    "name": "t",
    "generate": {"backend": {"type": "replay"}, "reviews": {"sample": {"n": 12}}},
    "pretrain": {"model": "tiny", "data": {"validation_holdout": 3},
                 "train": {"max_steps": 4, "batch_size": 4, "grad_accum": 1, "eval_steps": 2,
                           "eval_batch_size": 8, "logging_steps": 1}},
    "students": [{"name": "distilled", "model": "@pretrained"}, {"name": "baseline", "model": "tiny"}],
    "tasks": {"atsa": ["rest14"]},
    "seeds": [42],
    "finetune": {"test_limit": 40, "decode": {"max_length": 16},
                 "train": {"train_limit": 48, "dev_limit": 16, "max_steps": 3, "logging_steps": 1}},
    "report": {"baseline": "baseline"},
}


def write_cfg(tmp_path, **changes):
    data = json.loads(json.dumps(TINY))
    data["output_dir"] = str(tmp_path / "exp")
    for k, v in changes.items():
        data[k] = v
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipe")
    p = write_cfg(tmp)
    cfg = load_config(PipelineConfig, p)
    result = run_pipeline(cfg, progress=False)
    return tmp, p, result


def test_end_to_end_writes_every_stage_and_a_report(finished):
    tmp, p, result = finished
    root = tmp / "exp"
    gen = next(root.glob("generate-*"))
    # the replay teacher answers only the (review, kind) pairs it has recordings for: one per review
    records = [json.loads(x) for x in open(gen / "corpus.jsonl")]
    assert len(records) == 12 and len({r["key"] for r in records}) == 12
    pre = next(root.glob("pretrain-*"))
    assert (pre / "final_model" / "model.safetensors").exists()
    runs = sorted((root / "finetune").glob("*/*/metrics.json"))
    assert len(runs) == 2
    distilled = json.loads(next((root / "finetune" / "distilled").glob("*/run_info.json")).read_text())
    assert distilled["model"] == str(pre / "final_model")
    md = (root / "report" / "report.md").read_text()
    assert "| distilled | atsa/rest14 | normal | 1 seed |" in md and "| baseline | atsa/rest14 | normal | 1 seed |" in md
    assert (root / "report" / "f1_by_view.png").read_bytes()[:4] == b"\x89PNG"
    assert "pretrain_loss.png" in result["report"]["plots"]


def test_second_run_skips_everything(finished):
    tmp, p, _ = finished
    stages = plan(load_config(PipelineConfig, p))
    assert all(s.done for s in stages)


def test_changing_a_finetune_setting_replans_only_finetuning(finished):
    tmp, p, _ = finished
    before = {s.name: s for s in plan(load_config(PipelineConfig, p))}
    after = plan(load_config(PipelineConfig, p, ["finetune.train.learning_rate=1e-3"]))
    for s in after:
        if s.kind in ("generate", "pretrain"):
            assert s.done and s.out == before[s.name].out
        else:
            assert not s.done and s.out != before[s.name].out
    # ... while a pretraining change re-plans pretraining and the distilled student only
    after = {s.name: s for s in plan(load_config(PipelineConfig, p, ["pretrain.train.max_steps=5"]))}
    assert after["generate"].done and not after["pretrain"].done
    assert after["baseline atsa/rest14 seed 42"].done and not after["distilled atsa/rest14 seed 42"].done


def test_dry_run_cli_prints_the_plan(finished):
    tmp, p, _ = finished
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "run", str(p), "--dry-run"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("done, skip") == 4


def test_overrides_after_options_are_taken(finished, capsys):
    """`run X.yaml --dry-run key=value`: the override is applied, not rejected by argparse."""
    from fsa_distill.cli import main

    tmp, p, _ = finished
    assert main(["run", str(p), "--dry-run", "seeds=[42,52]"]) == 0
    out = capsys.readouterr().out
    assert "seed 52" in out and out.count("done, skip") == 4
    with pytest.raises(SystemExit):  # an unknown option is still an error
        main(["run", str(p), "--dry-run", "--bogus"])


def test_bad_experiment_file_is_one_line_error(tmp_path):
    p = write_cfg(tmp_path, finetune={"train": {"epochz": 3}})
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "run", str(p), "--dry-run"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "finetune: train.epochz: unknown key" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing_finished_stages(tmp_path):
    p = write_cfg(tmp_path, seeds=[42, 52], students=[{"name": "baseline", "model": "tiny"}])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "fsa_distill.cli", "run", str(p), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    root = tmp_path / "exp" / "finetune" / "baseline"
    deadline = time.time() + 400
    first = None
    try:
        while time.time() < deadline and proc.poll() is None:  # wait for the first fine-tuning to finish
            done = sorted(root.glob("*/metrics.json"))
            if done:
                first = done[0]
                break
            time.sleep(0.5)
        assert first is not None, "the first fine-tuning never finished"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    stamp = first.stat().st_mtime_ns
    gen_summary = next((tmp_path / "exp").glob("generate-*/summary.json")).stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert first.stat().st_mtime_ns == stamp  # not redone
    assert next((tmp_path / "exp").glob("generate-*/summary.json")).stat().st_mtime_ns >= gen_summary
    assert len(list(root.glob("*/metrics.json"))) == 2
    assert "| baseline | atsa/rest14 | normal | 2 |" in r.stdout

