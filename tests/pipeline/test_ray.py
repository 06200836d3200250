"""The Ray executors on a local 2-CPU Ray instance: corpus generation (same corpus as the local path,
no lost or doubled record when a worker is killed) and fine-tuning sweeps (same metrics as the
local path). Tests that need Ray are skipped where the optional extra is not installed; the
tests of the error without Ray and of the merge run everywhere."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

# Ray binds its services to the machine's outward address unless told it is not a cluster node;
# must be set before Ray is imported. The tests' Ray instance then listens on 127.0.0.1 only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from fsa_distill.errors import FsaError  # noqa: E402
from fsa_distill.pipeline.config import PipelineConfig  # noqa: E402
from fsa_distill.pipeline.run import Stage, plan, run_finetunes, run_pipeline  # noqa: E402
from fsa_distill.ray_cluster import _check_reachable  # noqa: E402
from fsa_distill.teacher.config import GenerateConfig  # noqa: E402
from fsa_distill.teacher.generate import generate_corpus  # noqa: E402
from fsa_distill.teacher.loopback import LoopbackServer  # noqa: E402
from fsa_distill.teacher.ray_generate import (  # noqa: E402
    SHARDS_DIR,
    complete_records,
    generate_corpus_on_ray,
    merge_shards,
    shard_of,
)

RAY_MISSING = "Ray is an optional extra (pip install 'fsa-distill[ray]'); the Ray executor tests need it"

# The fine-tuning part of tests/pipeline/test_run.py's TINY experiment.
TINY_FINETUNE = {"test_limit": 40, "decode": {"max_length": 16},
                 "train": {"train_limit": 48, "dev_limit": 16, "max_steps": 3, "logging_steps": 1}}


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason=RAY_MISSING)
    pytest.importorskip("ray.data", reason=RAY_MISSING)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def as_set(records: list[dict]) -> set[str]:
    return {json.dumps(r, sort_keys=True) for r in records}


def replay_cfg(out: Path, n: int = 60) -> GenerateConfig:
    return GenerateConfig(output_dir=str(out), reviews={"sample": {"n": n}})


# ------------------------------------------------------------------------------ without Ray

def test_without_ray_the_executors_are_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(FsaError, match=r"pip install 'fsa-distill\[ray\]'"):
        generate_corpus_on_ray(replay_cfg(tmp_path / "c"), progress=False)
    assert not (tmp_path / "c" / "corpus.jsonl").exists()
    cfg = PipelineConfig(students=[{"name": "b", "model": "tiny"}], executor="ray")
    stage = plan(cfg.model_copy(update={"output_dir": str(tmp_path / "exp")}))[0]
    with pytest.raises(FsaError, match=r"pip install 'fsa-distill\[ray\]'"):
        run_finetunes([stage], cfg, progress=False)


def test_generate_cli_without_ray(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from fsa_distill.cli import main\n"
            f"sys.exit(main(['generate', 'output_dir={tmp_path / 'c'}', '--executor', 'ray', '--no-progress']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "pip install 'fsa-distill[ray]'" in r.stderr and "Traceback" not in r.stderr


def test_an_unreachable_cluster_address_is_reported_at_once():
    t = time.monotonic()
    with pytest.raises(FsaError, match=r"cannot reach the Ray cluster at 127.0.0.1:1 "):
        _check_reachable("127.0.0.1:1")
    assert time.monotonic() - t < 10  # Ray itself would retry for minutes
    _check_reachable("auto")  # resolved by Ray, not checked here
    _check_reachable(None)


def test_merge_is_idempotent_and_finishes_an_interrupted_merge(tmp_path):
    local = tmp_path / "local"
    generate_corpus(replay_cfg(local, n=30), progress=False)
    records = read(local / "corpus.jsonl")
    out = tmp_path / "ray"
    (out / SHARDS_DIR).mkdir(parents=True)
    for i in range(3):  # the local corpus cut into three shard files, as the workers would leave them
        part = [r for r in records if shard_of(r["text"], 3) == i]
        (out / SHARDS_DIR / f"shard-{i:05d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    assert merge_shards(out) == len(records)
    assert merge_shards(out) == 0
    merged = (out / "corpus.jsonl").read_bytes()
    assert as_set(read(out / "corpus.jsonl")) == as_set(records)
    # a merge killed mid-write: half the corpus and a torn line; merging again completes it
    half = merged[: len(merged) // 2]
    (out / "corpus.jsonl").write_bytes(half)
    assert not half.endswith(b"\n")
    n_whole = half.count(b"\n")
    assert merge_shards(out) == len(records) - n_whole
    assert sorted(r["key"] for r in read(out / "corpus.jsonl")) == sorted(r["key"] for r in records)
    # a torn last line in a shard (a worker killed mid-write) is not a record yet
    shard = out / SHARDS_DIR / "shard-00000.jsonl"
    whole = list(complete_records(shard))
    shard.write_bytes(shard.read_bytes() + b'{"key": "half a rec')
    assert list(complete_records(shard)) == whole
    assert merge_shards(out) == 0


# ---------------------------------------------------------------------------------- with Ray

def test_ray_generate_makes_the_local_corpus_and_resumes(tmp_path, ray_local):
    local = generate_corpus(replay_cfg(tmp_path / "local"), progress=False)
    summary = generate_corpus_on_ray(replay_cfg(tmp_path / "ray"), progress=False, n_shards=4, workers=2)
    ray_records = read(tmp_path / "ray" / "corpus.jsonl")
    assert as_set(ray_records) == as_set(read(tmp_path / "local" / "corpus.jsonl"))
    assert {(r["key"], r["response"]) for r in ray_records} == {(r["key"], r["response"]) for r in
                                                                read(tmp_path / "local" / "corpus.jsonl")}
    assert len({r["key"] for r in ray_records}) == len(ray_records) == 60
    # the shards hold the same records, each in the shard its text hashes to
    shards = sorted((tmp_path / "ray" / SHARDS_DIR).glob("shard-*.jsonl"))
    assert len(shards) == 4
    for path in shards:
        assert {shard_of(r["text"], 4) for r in read(path)} == {int(path.stem.split("-")[1])}
    assert summary["corpus_totals"] == local["corpus_totals"]
    for k in ("planned", "written", "ok", "dropped", "no_recording"):
        assert summary["run"][k] == local["run"][k], k
    assert summary["executor"]["merged"] == 60
    assert sorted(s for shards in summary["executor"]["workers"].values() for s in shards) == [0, 1, 2, 3]
    saved = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert saved["run"] == summary["run"]
    # a re-run finds everything done: no shard is sent out and the corpus is unchanged
    before = (tmp_path / "ray" / "corpus.jsonl").read_bytes()
    again = generate_corpus_on_ray(replay_cfg(tmp_path / "ray"), progress=False, n_shards=4, workers=2)
    assert again["executor"]["shards_run"] == 0 and again["run"]["written"] == 0
    assert again["run"]["already_done"] == 60 and again["run"]["no_recording"] == 60
    assert (tmp_path / "ray" / "corpus.jsonl").read_bytes() == before


def test_worker_killed_mid_shard_loses_and_doubles_nothing(tmp_path, ray_local):
    # A slow teacher (0.1 s an answer, one at a time): a shard of ~40 records takes seconds.
    srv = LoopbackServer(latency_s=0.1).start()
    try:
        cfg = GenerateConfig(output_dir=str(tmp_path / "ray"), reviews={"sample": {"n": 40}},
                             backend={"type": "openai", "base_url": srv.base_url, "model": "loopback",
                                      "timeout_s": 10},
                             generation={"concurrency": 1, "max_tokens": 200})
        result: dict = {}

        def run():
            try:
                result["summary"] = generate_corpus_on_ray(cfg, progress=False, n_shards=2, workers=2)
            except BaseException as e:  # handed to the test thread below
                result["error"] = e

        driver = threading.Thread(target=run)
        driver.start()
        shard = tmp_path / "ray" / SHARDS_DIR / "shard-00000.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.is_alive():
            if shard.exists() and shard.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.05)
        lock = shard.with_suffix(".lock").read_text().split()
        pid = int(lock[1])
        done_at_kill = shard.read_bytes().count(b"\n")
        os.kill(pid, signal.SIGKILL)  # the worker dies mid-shard, as on a lost node
        driver.join(timeout=180)
        assert not driver.is_alive()
        assert "error" not in result, result.get("error")
    finally:
        srv.stop()
    summary = result["summary"]
    assert 3 <= done_at_kill < len(read(shard)), "the kill did not land mid-shard"
    records = read(tmp_path / "ray" / "corpus.jsonl")
    keys = Counter(r["key"] for r in records)
    assert len(keys) == 80 and set(keys.values()) == {1}  # 40 reviews x 2 kinds, each once
    assert Counter((r["review_id"], r["kind"]) for r in records).most_common(1)[0][1] == 1
    assert all(r["ok"] for r in records)
    # the retried shard kept what the killed worker had committed and did only the rest
    assert len(read(shard)) == len({r["key"] for r in read(shard)})
    assert summary["run"]["already_done"] >= done_at_kill
    assert summary["run"]["written"] == 80 - summary["run"]["already_done"]
    # ... in another process than the one killed (which may have finished shard 1 before)
    assert 0 not in summary["executor"]["workers"].get(f"{lock[0]}:{pid}", [])
    assert sorted(s for shards in summary["executor"]["workers"].values() for s in shards) == [0, 1]


def _sweep_cfg(tmp_path: Path, name: str, **kw) -> PipelineConfig:
    return PipelineConfig(name=name, output_dir=str(tmp_path / "{name}"), students=[{"name": "b", "model": "tiny"}],
                          tasks={"atsa": ["rest14"]}, seeds=[42, 52], finetune=TINY_FINETUNE,
                          report={"baseline": None}, **kw)


@pytest.mark.slow
def test_ray_sweep_gives_the_local_metrics(tmp_path, ray_local):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the Ray tasks get 1 CPU each (2 jobs on 2 CPUs); same arithmetic here
    try:
        run_pipeline(_sweep_cfg(tmp_path, "local"), progress=False)
    finally:
        torch.set_num_threads(threads)
    result = run_pipeline(_sweep_cfg(tmp_path, "ray", executor="ray", jobs=2), progress=False)
    losses = []
    for seed in (42, 52):
        local_dir = next((tmp_path / "local" / "finetune" / "b").glob(f"*seed{seed}-*"))
        ray_dir = next((tmp_path / "ray" / "finetune" / "b").glob(f"*seed{seed}-*"))
        assert local_dir.name == ray_dir.name  # same config hash: the same job
        assert json.loads((ray_dir / "metrics.json").read_text()) == json.loads((local_dir / "metrics.json").read_text())
        info = [json.loads((d / "run_info.json").read_text()) for d in (local_dir, ray_dir)]
        assert info[0]["train_loss"] == info[1]["train_loss"] and info[0]["steps"] == info[1]["steps"] == 3
        losses.append(info[0]["train_loss"])
        assert (ray_dir / "job.log").stat().st_size > 0
    assert losses[0] != losses[1]  # the seeds matter, so equal numbers mean the same seed ran
    assert "| b | atsa/rest14 | normal | 2 |" in result["report"]["markdown"]
    # finished runs are skipped on the next run, as with the local executor
    assert all(s.done for s in plan(_sweep_cfg(tmp_path, "ray", executor="ray", jobs=2)))


@pytest.mark.slow
def test_ray_sweep_reports_a_failing_job_in_one_line_and_keeps_the_others(tmp_path, ray_local):
    cfg = _sweep_cfg(tmp_path, "f", executor="ray", jobs=2)
    good = [s for s in plan(cfg) if "seed 42" in s.name]
    bad_cfg = good[0].config.model_copy(update={"model": str(tmp_path / "no-such-model"), "seed": 7,
                                                "output_dir": str(tmp_path / "f" / "bad")})
    bad = Stage("finetune", "b atsa/rest14 seed 7", tmp_path / "f" / "bad", bad_cfg)
    failures = run_finetunes(good + [bad], cfg, progress=False)
    assert len(failures) == 1 and failures[0].startswith("b atsa/rest14 seed 7: ")
    assert "no-such-model" in failures[0] and "\n" not in failures[0]
    assert (good[0].out / "metrics.json").exists()
    assert not (tmp_path / "f" / "bad" / "metrics.json").exists()
