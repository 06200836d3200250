"""The preset cache (models.resolve_model): parallel jobs on a fresh machine build a preset once."""

import threading
import time

from fsa_distill import models


def test_two_jobs_asking_for_an_unbuilt_preset_build_it_once_and_both_load_a_whole_folder(tmp_path, monkeypatch):
    # `run --jobs 2` on a fresh machine: both fine-tunings find no cached build at once. Without a
    # lock the second build's rename replaced the folder the first was loading (CPU, 2026-12-04:
    # "no file named model.safetensors" in the multitask job).
    monkeypatch.setenv("FSA_DISTILL_CACHE", str(tmp_path / "cache"))
    builds = []

    def slow_builder(out_dir, seed=0):
        builds.append(out_dir)
        (out_dir / "config.json").write_text("{}")
        time.sleep(0.5)  # the window in which the other job looks
        (out_dir / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setitem(models.PRESETS, "slow", slow_builder)
    seen, errors = [], []

    def job():
        try:
            path = models.resolve_model("slow")
            seen.append(sorted(p.name for p in (tmp_path / "cache" / "presets" / "slow-v1").iterdir()))
            assert path.endswith("slow-v1")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and len(builds) == 1
    assert seen == [["config.json", "model.safetensors"]] * 2
