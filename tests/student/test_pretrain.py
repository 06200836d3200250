"""Distillation pretraining end to end with the tiny preset on the shipped teacher sample (CPU)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fsa_distill.config import load_config
from fsa_distill.errors import FsaError
from fsa_distill.student.pretrain import (
    PretrainConfig,
    last_complete_checkpoint,
    pretrain,
)

REPO = Path(__file__).resolve().parents[2]
# Short sequences and batches keep each step cheap on a shared 2-core machine; the lr is higher
# than the reference's so that a from-scratch tiny model visibly learns within a dozen steps.
FAST = ["data.validation_holdout=20", "data.max_source_length=32", "data.max_target_length=48",
        "train.max_steps=12", "train.batch_size=4", "train.grad_accum=2", "train.learning_rate=0.01",
        "train.eval_steps=6", "train.eval_batch_size=20", "train.logging_steps=2"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The test machine's 2 cores are shared: torch's intra-op threads then spin against other
    # processes and a tiny model runs ~5x slower than on one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(out, *extra):
    return load_config(PretrainConfig, REPO / "configs/pretrain/tiny-sample.yaml",
                       [f"output_dir={out}", *FAST, *extra])


def _weights(folder):
    from safetensors.torch import load_file
    return load_file(str(Path(folder) / "model.safetensors"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain") / "run"
    return out, pretrain(_cfg(out), progress=False)


def test_tiny_pretraining_learns_and_writes_the_run(run):
    out, summary = run
    curve = json.loads((out / "loss_curve.json").read_text())
    train = [r["train_loss"] for r in curve if r["train_loss"] is not None]
    val = [(r["step"], r["val_loss"]) for r in curve if r["val_loss"] is not None]
    assert [s for s, _ in val] == [6, 12]
    assert train[-1] < train[0] - 0.3  # the loss goes down
    assert val[-1][1] < val[0][1]
    assert summary["steps"] == 12 and summary["final_val_loss"] == pytest.approx(val[-1][1])
    assert summary["best_val_loss"] == min(v for _, v in val)
    assert 0 <= summary["padding_fraction"] < summary["padding_fraction_shuffled_batches"]
    assert summary["target_tokens_per_s"] > 0 and summary["effective_batch"] == 8
    assert summary["train_pairs"] + summary["validation_pairs"] == 500
    assert (out / "loss_curve.csv").read_text().startswith("step,train_loss,val_loss,lr")
    assert json.loads((out / "summary.json").read_text()) == summary
    assert "validation_holdout: 20" in (out / "config.yaml").read_text()
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-12", "checkpoint-6"]


def test_final_model_is_a_plain_model_folder_that_loads_and_generates(run):
    from fsa_distill.decoding.text import to_model_text
    from fsa_distill.models import load_student, read_meta

    out, summary = run
    final = out / "final_model"
    assert (final / "model.safetensors").exists() and not list(final.glob("*.bin"))
    assert not (final / "optimizer.pt").exists()
    meta = read_meta(final)
    assert meta["kind"] == "pretrained" and meta["base_model"] == "tiny" and meta["steps"] == 12
    assert meta["teacher"] == "mixtral" and meta["corpus"][0].endswith("mixtral_500.jsonl.gz")
    model, tok = load_student(str(final))
    enc = tok([to_model_text("The pizza was great\nbut the staff was rude.")], return_tensors="pt")
    gen = model.generate(**enc, max_new_tokens=8, do_sample=False)
    assert gen.shape[0] == 1 and gen.shape[1] > 1
    best = out / "best_model"
    assert read_meta(best)["validation_loss"] == pytest.approx(summary["best_val_loss"])
    assert not list(best.glob("optimizer.pt")) and (best / "model.safetensors").exists()
    load_student(str(best))


def test_final_model_fine_tunes(run, tmp_path):
    """`finetune --model <final_model>` takes the pretrained student (a few steps, few sentences)."""
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    out, _ = run
    cfg = FinetuneConfig.model_validate({
        "model": str(out / "final_model"), "output_dir": str(tmp_path / "ft"), "test_limit": 8, "views": ["normal"],
        "train": {"max_steps": 2, "batch_size": 4, "train_limit": 8, "dev_limit": 4, "logging_steps": 1},
        "decode": {"max_length": 8}})
    metrics = finetune(cfg, progress=False)
    assert metrics  # ran to the end and scored
    assert any((tmp_path / "ft").rglob("*.json"))


def test_rerun_with_the_same_config_skips_and_a_different_one_is_refused(run):
    out, summary = run
    t0 = time.time()
    assert pretrain(_cfg(out), progress=False) == summary
    assert time.time() - t0 < 5
    with pytest.raises(FsaError, match="different config"):
        pretrain(_cfg(out, "train.learning_rate=0.02"), progress=False)


class _Crash(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, run):
    """Crash two steps after the step-6 checkpoint, resume from it, compare with the uninterrupted run."""
    from transformers import TrainerCallback

    class CrashAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 8:
                raise _Crash()

    ref_out, _ = run
    out = tmp_path / "resumed"
    with pytest.raises(_Crash):
        pretrain(_cfg(out), progress=False, callbacks=[CrashAt()])
    assert last_complete_checkpoint(out / "checkpoints").name == "checkpoint-6"
    summary = pretrain(_cfg(out), progress=False)
    assert summary["resumed_from"].endswith("checkpoint-6")
    ref, got = _weights(ref_out / "final_model"), _weights(out / "final_model")
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=1e-6)
    # the loss curve of the resumed run carries the steps before the crash
    steps = [r["step"] for r in json.loads((out / "loss_curve.json").read_text())]
    assert steps[:3] == [2, 4, 6]


def test_ablations_change_the_data(tmp_path):
    from fsa_distill.models import load_student
    from fsa_distill.student.pretrain import load_pairs

    _, tok = load_student("tiny")
    data = load_pairs(_cfg(tmp_path, "data.kind_weights.analysis=0", "data.task_prefix=true"), tok)
    assert set(data["train_stats"]["kinds"]) == {"rewrite"}
    first = tok.decode(data["train"][0]["input_ids"])
    assert first.startswith("rewrite review: ")


def _cli(*args):
    return [sys.executable, "-m", "fsa_distill.cli", "pretrain", *args]


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_weights(tmp_path, run):
    """A real SIGKILL once the step-6 checkpoint is complete, then the same command again."""
    ref_out, _ = run
    out = tmp_path / "killed"
    args = _cli(str(REPO / "configs/pretrain/tiny-sample.yaml"), f"output_dir={out}", *FAST, "--no-progress")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while last_complete_checkpoint(out / "checkpoints") is None:
            assert proc.poll() is None and time.time() < deadline, "no checkpoint before the run ended"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "final_model").exists()
    subprocess.run(args, cwd=tmp_path, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref, got = _weights(ref_out / "final_model"), _weights(out / "final_model")
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_two_process_ddp_on_cpu_writes_one_model(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "fsa_distill.cli", "pretrain", str(REPO / "configs/pretrain/tiny-sample.yaml"),
           f"output_dir={out}", *FAST, "train.max_steps=4", "train.eval_steps=2", "--no-progress"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["effective_batch"] == 16 and summary["steps"] == 4
    assert [p.name for p in out.iterdir() if p.name.endswith("_model")] in (
        ["best_model", "final_model"], ["final_model", "best_model"])
    assert len(list((out / "final_model").glob("*.safetensors"))) == 1
    assert res.stdout.count('"best_val_loss"') == 1  # only the main process reports


def test_a_pickle_in_a_checkpoint_is_one_line_not_unpickled(tmp_path, run, capsys):
    """A checkpoint whose optimizer.pt holds a pickle of anything but tensors (tampered with, or
    written by another program): torch refuses it (weights_only) and the resume says so in one
    line naming the checkpoint."""
    import shutil

    from fsa_distill.cli import main
    from fsa_distill.config import dump_config

    ref_out, _ = run
    out = tmp_path / "tampered"
    out.mkdir()
    dump_config(_cfg(out), out / "config.yaml")
    ckpt = out / "checkpoints" / "checkpoint-6"
    shutil.copytree(ref_out / "checkpoints" / "checkpoint-6", ckpt)
    torch.save({"state": os.getcwd}, ckpt / "optimizer.pt")  # a global torch must not import
    rc = main(["pretrain", str(REPO / "configs/pretrain/tiny-sample.yaml"), f"output_dir={out}", *FAST,
               "--no-progress"])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert rc == 2 and "Traceback" not in err and len(lines) == 1, err[-3000:]
    assert f"{ckpt}: a checkpoint file holds data torch refuses to load safely" in lines[0]


def test_a_damaged_checkpoint_model_is_one_line(tmp_path, run, capsys):
    import shutil

    from fsa_distill.cli import main
    from fsa_distill.config import dump_config

    ref_out, _ = run
    out = tmp_path / "truncated"
    out.mkdir()
    dump_config(_cfg(out), out / "config.yaml")
    ckpt = out / "checkpoints" / "checkpoint-6"
    shutil.copytree(ref_out / "checkpoints" / "checkpoint-6", ckpt)
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    rc = main(["pretrain", str(REPO / "configs/pretrain/tiny-sample.yaml"), f"output_dir={out}", *FAST,
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"error: {weights}: not a valid safetensors file" in err
