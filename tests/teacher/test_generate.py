import json
import secrets
import subprocess

import pytest
from teacher_helpers import REPO, cli_cmd, read_corpus, write_config

from fsa_distill.cli import main
from fsa_distill.errors import FsaError
from fsa_distill.teacher.config import GenerateConfig
from fsa_distill.teacher.generate import generate_corpus, generate_shard
from fsa_distill.teacher.reviews import Review

FIELDS = {"key", "review_id", "text", "rating", "domain", "kind", "prompt_version", "teacher", "response",
          "raw_response", "finish_reason", "prompt_tokens", "completion_tokens", "parsed", "flags", "ok"}


def test_replay_quickstart_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["generate", f"output_dir={out}", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "analysis" in printed and "unparsed" in printed
    recs = read_corpus(out / "corpus.jsonl")
    assert len(recs) == 499 and all(set(r) == FIELDS for r in recs)
    assert len({r["key"] for r in recs}) == 499
    summary = json.loads((out / "summary.json").read_text())
    assert summary["corpus_totals"]["per_kind"] == {"analysis": {"records": 234, "ok": 231, "dropped": 3},
                                                    "rewrite": {"records": 265, "ok": 265, "dropped": 0}}
    assert summary["run"]["no_recording"] == 497 and summary["reviews"]["benchmark_leak"] == 1
    a = next(r for r in recs if r["kind"] == "analysis" and r["ok"])
    assert a["parsed"] and a["prompt_version"] == "analysis-v1" and a["teacher"].startswith("mistralai/")
    # loadable as a Hugging Face dataset, the way pretraining reads it
    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / "corpus.jsonl"), split="train")
    assert ds.num_rows == 499 and {"text", "response", "kind", "domain", "ok"} <= set(ds.column_names)
    # second run: nothing to do
    assert main(["generate", f"output_dir={out}", "--no-progress", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["run"]["written"] == 0 and again["run"]["already_done"] == 499
    assert len(read_corpus(out / "corpus.jsonl")) == 499


def test_shipped_configs_parse():
    from fsa_distill.config import load_config

    for name in ("replay", "openai", "llama-cpp"):
        cfg = load_config(GenerateConfig, REPO / "configs" / "generate" / f"{name}.yaml")
        assert cfg.backend.type == name


def test_secrets_stay_out_of_config_corpus_and_summary(tmp_path, loopback, monkeypatch):
    secret = "sk-test-" + secrets.token_hex(12)  # made here: no key-like literal is tracked
    monkeypatch.setenv("MY_TEACHER_KEY", secret)
    srv = loopback()
    out = tmp_path / "run"
    cfg = GenerateConfig(output_dir=str(out), kinds=["rewrite"], reviews={"sample": {"n": 5}},
                         backend={"type": "openai", "base_url": srv.base_url, "model": "loopback",
                                  "api_key_env": "MY_TEACHER_KEY"})
    summary = generate_corpus(cfg, progress=False)
    assert summary["run"]["written"] == 5
    for f in out.iterdir():
        assert secret not in f.read_text(), f.name
    assert "api_key_env: MY_TEACHER_KEY" in (out / "config.yaml").read_text()
    with pytest.raises(FsaError, match="do not put secrets in the config") as e:
        GenerateConfig(backend={"type": "openai", "api_key": secret})
    assert secret not in str(e.value)


def test_shard_into_its_own_file(tmp_path):
    cfg = GenerateConfig(kinds=["analysis", "rewrite"])
    reviews = [Review("x", "Margaritas are an off-the-charts 5. Food is usually a 2. Chips and salsa are hands down the best in town.", 3.0)]
    s = generate_shard(cfg, reviews, tmp_path / "shard-0.jsonl")
    assert s["written"] == 1 and s["no_recording"] == 1  # the sample recorded only the analysis
    assert read_corpus(tmp_path / "shard-0.jsonl")[0]["kind"] == "analysis"


def test_cli_errors_are_one_line(tmp_path):
    bad = write_config(tmp_path / "bad.yaml", {"generation": {"concurrency": "many"}})
    p = subprocess.run(cli_cmd("generate", str(bad)), capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "error: " + str(bad) + ": generation.concurrency: Input should be a valid integer, unable to parse "
        "string as an integer (got 'many')"]
