"""llm-eval: answer parsing, demonstrations, prompts, and whole runs against the replay backend, a
fake OpenAI-compatible server started here, and (slow) a real llama.cpp server."""

import json
import re

import pytest

from fsa_distill.benchmark import load_split, load_view, make_target, score
from fsa_distill.cli import main
from fsa_distill.errors import FsaError
from fsa_distill.evaluation.llm_eval import LLMEvalConfig, llm_eval, pick_shots
from fsa_distill.evaluation.llm_prompts import FsaPrompt, parse_fsa_answer


# ------------------------------------------------------------------------- fake OpenAI server
def last_sentence(body) -> str:
    """The sentence a request asks about: the last `Sentence:` of the prompt."""
    text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    return re.findall(r"Sentence: (.*)", text)[-1].strip()


# ------------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("answer,target,status", [
    ("Food | positive ; service | negative", "Food | positive ; service | negative", "ok"),
    ("- Food: Positive\n- service (negative)", "Food | positive ; service | negative", "ok"),
    ('"the pasta" - positive', "the pasta | positive", "ok"),
    ("Food | positive\nThe service was not mentioned.", "Food | positive", "partial"),
    ("None", "", "none"),
    ("Answer: none.", "", "none"),
    ("I am not sure what you mean.", "", "unparseable"),
    ("   ", "", "no_answer"),
    (None, "", "no_answer"),
])
def test_parse_atsa_answers(answer, target, status):
    a = parse_fsa_answer("atsa", answer, "The Food was great, the pasta too, but the service was slow.")
    assert (a.target, a.status) == (target, status)


def test_atsa_terms_take_the_sentence_casing_and_foreign_terms_are_left_to_the_scorer():
    a = parse_fsa_answer("atsa", "FOOD | positive ; wine list | neutral", "The food was great.")
    assert a.pairs == (("food", "positive"), ("wine list", "neutral"))
    # the scorer drops "wine list" (not in the sentence), exactly as for a student's output
    from fsa_distill.benchmark import parse_pairs
    assert parse_pairs("atsa", a.target, "The food was great.") == [("food", "positive")]


def test_parse_acsa_answers_normalise_categories_like_the_reference():
    a = parse_fsa_answer("acsa", "FOOD#QUALITY | Positive; Service#General: negative", "x")
    assert a.target == "food quality | positive ; service general | negative" and a.status == "ok"


# ---------------------------------------------------------------------------- demonstrations
def test_shots_are_drawn_from_train_with_the_seed():
    train = load_split("atsa", "rest14", "train")
    train_sentences = {e.sentence for e in train}
    a, b, c = (pick_shots(train, 4, s, "atsa") for s in (1, 1, 2))
    assert a == b and a != c and len(a) == 4
    assert all(s in train_sentences and t for s, t in a)  # demonstrations show the answer format
    assert pick_shots(train, 0, 1, "atsa") == []


def test_prompt_renderings():
    p = FsaPrompt("acsa", ("positive", "negative", "neutral"), ("food quality", "service general"),
                  (("Great food.", "food quality | positive"), ("Meh.", "")))
    chat = p.render("Slow service.", "chat")
    roles = [m["role"] for m in chat.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert "food quality, service general" in chat.messages[0]["content"]
    assert chat.messages[3]["content"] == "none" and chat.messages[-1]["content"] == "Sentence: Slow service."
    assert chat.source == "Slow service." and chat.kind == "llm-eval-acsa"
    comp = p.render("Slow service.", "completion")
    assert comp.text.endswith("Sentence: Slow service.\nAnswer:") and "Answer: food quality | positive" in comp.text
    assert comp.stop == ("\nSentence:", "\n\n")


# ------------------------------------------------------------------------------ whole runs
def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_llm_eval_atsa_chat_k_shot_against_a_fake_server(fake_server, tmp_path):
    normal = load_view("atsa", "rest14", "normal")[:30]
    gold = {e.sentence: make_target("atsa", e) for e in normal}
    garbage = {normal[3].sentence, normal[7].sentence}
    srv = fake_server(lambda body: "I am not sure." if last_sentence(body) in garbage
                      else (gold[last_sentence(body)] or "none"))
    out = tmp_path / "run"
    rc = main(["llm-eval", "--backend", "openai", "--base-url", srv.base_url, "--llm-model", "fake-llm",
               "--task", "atsa", "--dataset", "rest14", "--shots", "2", "--seed", "7", "--limit", "30",
               "--output", str(out), "--quiet"])
    assert rc == 0
    assert len(srv.requests) == 30
    for body in srv.requests:
        assert body["model"] == "fake-llm" and body["temperature"] == 0.0 and body["max_tokens"] == 128
        assert [m["role"] for m in body["messages"]] == ["user", "assistant"] * 2 + ["user"]
    metrics = json.loads((out / "metrics.json").read_text())
    info = json.loads((out / "run_info.json").read_text())
    assert info["kind"] == "llm-eval" and info["model"] == "fake-llm" and info["seed"] == 7
    assert info["task"] == "atsa" and info["dataset"] == "rest14" and info["shots"] == 2
    assert info["answers"]["unparseable"] == 2 and sum(info["answers"].values()) == 30
    assert set(metrics) == {"normal", "test", "implicit", "multi"}  # no hard sentence among the first 30
    # the two unparseable answers cost exactly their gold pairs' recall, nothing else
    expected = score("atsa", normal, [("" if e.sentence in garbage else gold[e.sentence]) for e in normal])
    assert metrics["normal"]["f1"] == pytest.approx(expected["f1"]) and metrics["normal"]["precision"] == 1.0
    assert metrics["normal"]["recall"] < 1.0 and metrics["normal"]["answers"]["unparseable"] == 2
    # raw answers are kept beside the parsed prediction
    preds = {r["id"]: r for r in read_jsonl(out / "predictions_normal.jsonl")}
    assert preds[normal[3].id]["prediction"] == "" and preds[normal[3].id]["raw_prediction"] == "I am not sure."
    answers = read_jsonl(out / "answers.jsonl")
    assert [a["status"] for a in answers].count("unparseable") == 2
    assert all(a["completion_tokens"] == 3 for a in answers)
    prompt = json.loads((out / "prompt.json").read_text())
    assert len(prompt["shots"]) == 2 and prompt["mode"] == "chat"
    # the metrics are those of the predictions file as written
    rows = read_jsonl(out / "predictions_test.jsonl")
    by_id = {e.id: e for e in normal}
    again = score("atsa", [by_id[r["id"]] for r in rows], [r["prediction"] for r in rows])
    assert again["f1"] == metrics["test"]["f1"] and again["n_pred"] == metrics["test"]["n_pred"]


def small_copy(tmp_path, task, dataset, sizes):
    """A --data-dir with the first records of each split: whole-dataset runs stay fast."""
    from fsa_distill.resources import benchmark_dir, open_text

    folder = tmp_path / "data" / task / dataset
    folder.mkdir(parents=True)
    for split, n in sizes.items():
        with open_text(benchmark_dir() / task / dataset / f"{split}.json.gz") as f:
            records = json.load(f)[:n]
        (folder / f"{split}.json").write_text(json.dumps(records), encoding="utf-8")
    return tmp_path / "data"


def test_llm_eval_acsa_completion_mode_whole_dataset_scores_with_the_score_command(fake_server, tmp_path, capsys):
    data = small_copy(tmp_path, "acsa", "laptop16", {"train": 50, "test": 40, "hard_test": 25})
    normal = load_view("acsa", "laptop16", "normal", data)
    gold = {e.sentence: make_target("acsa", e) for e in normal}

    def answer(body):
        # Upper-case SemEval categories, as an LLM copies them: the parser normalises them.
        target = gold[last_sentence(body)]
        return " ; ".join(f"{c.upper().replace(' ', '#', 1)} | {p}" for c, p in
                          (x.split(" | ") for x in target.split(" ; "))) if target else "none"

    srv = fake_server(answer)
    out = tmp_path / "acsa"
    cfg = LLMEvalConfig(task="acsa", dataset="laptop16", data_dir=str(data), seed=3, shots=1, output_dir=str(out),
                        backend={"type": "openai", "base_url": srv.base_url, "model": "m", "mode": "completion"})
    result = llm_eval(cfg, progress=False)
    assert len(srv.requests) == len(normal) == 65
    assert all(b["prompt"].endswith("\nAnswer:") and b["stop"] == ["\nSentence:", "\n\n"] for b in srv.requests)
    assert set(result["metrics"]) == {"normal", "test", "hard", "implicit", "multi"}
    for view, m in result["metrics"].items():
        assert m["f1"] == 1.0 and m["answers"]["unparseable"] == 0, view
    capsys.readouterr()
    assert main(["score", "--task", "acsa", "--dataset", "laptop16", "--data-dir", str(data), "--view", "hard",
                 "--predictions", str(out / "predictions_hard.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == 1.0


def test_llm_eval_with_the_replay_backend_counts_missing_answers(tmp_path):
    normal = load_view("atsa", "laptop14", "normal")[:6]
    rec = tmp_path / "rec.jsonl"
    rows = [{"text": e.sentence, "kind": "llm-eval-atsa", "raw_response": make_target("atsa", e) or "none"}
            for e in normal[:4]]
    rec.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "replay"
    rc = main(["llm-eval", "--backend", "replay", "--recordings", str(rec), "--task", "atsa",
               "--dataset", "laptop14", "--limit", "6", "--output", str(out), "--quiet"])
    assert rc == 0
    info = json.loads((out / "run_info.json").read_text())
    assert info["answers"]["no_answer"] == 2 and info["finish_reasons"] == {"stop": 4, "no_recording": 2}
    yaml_text = (out / "config.yaml").read_text()
    assert "type: replay" in yaml_text and str(rec) in yaml_text


def test_llm_eval_config_errors_are_one_line(tmp_path):
    with pytest.raises(FsaError, match="backend.type: missing"):
        LLMEvalConfig.model_validate({"task": "atsa", "dataset": "rest14", "backend": {"base_url": "x"}})
    with pytest.raises(FsaError, match="do not put secrets") as e:
        LLMEvalConfig.model_validate({"task": "atsa", "dataset": "rest14",
                                      "backend": {"type": "openai", "api_key": "sk-SECRET"}})
    assert "sk-SECRET" not in str(e.value)
    assert main(["llm-eval", "--backend", "replay", "--task", "atsa", "--dataset", "rest14", "--mode", "chat",
                 "--output", str(tmp_path / "x")]) == 2  # replay has no mode: an unknown key, named


# --------------------------------------------------------------------------- llama.cpp (slow)
@pytest.mark.slow
def test_llm_eval_and_zeroshot_against_llama_cpp_server(llama_server, tmp_path):
    out = tmp_path / "llm-eval"
    assert main(["llm-eval", "--backend", "openai", "--base-url", llama_server, "--llm-model", "gemma-3-270m",
                 "--mode", "completion", "--task", "atsa", "--dataset", "rest14", "--shots", "2", "--limit", "4",
                 "--max-tokens", "32", "--output", str(out), "--quiet"]) == 0
    info = json.loads((out / "run_info.json").read_text())
    answers = read_jsonl(out / "answers.jsonl")
    assert info["model"] == "gemma-3-270m" and sum(info["answers"].values()) == 4 == len(answers)
    assert all(a["finish_reason"] in ("stop", "length") and a["completion_tokens"] <= 32 for a in answers)
    assert all(a["prompt_tokens"] > 100 for a in answers)  # the demonstrations went in
    assert 0.0 <= json.loads((out / "metrics.json").read_text())["normal"]["f1"] <= 1.0

    zs = tmp_path / "zeroshot"
    assert main(["zeroshot", "--backend", "openai", "--base-url", llama_server, "--llm-model", "gemma-3-270m",
                 "--mode", "completion", "--dataset", "sst2", "--limit", "6", "--output", str(zs), "--quiet"]) == 0
    rows = read_jsonl(zs / "predictions_llm.jsonl")
    m = json.loads((zs / "metrics.json").read_text())["llm"]
    assert len(rows) == 6 == m["n"] and all(r["raw"] is not None for r in rows)
    assert m["undecided"] == sum(r["prediction"] == "undecided" for r in rows)
    assert m["accuracy"] == pytest.approx(sum(r["prediction"] == r["label"] for r in rows) / 6)


def test_shipped_configs_validate():
    from pathlib import Path

    from fsa_distill.config import load_config

    files = sorted((Path(__file__).resolve().parents[2] / "configs" / "llm-eval").glob("*.yaml"))
    assert len(files) >= 2
    for f in files:
        cfg = load_config(LLMEvalConfig, f)
        assert cfg.task in ("atsa", "acsa") and cfg.backend.type in ("openai", "llama-cpp", "replay", "transformers")
