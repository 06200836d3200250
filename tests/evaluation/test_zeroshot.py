"""zeroshot: data loading, sentiment grades and aggregation, label-word scoring checked against the
model's own loss, whole runs with the tiny student, the replay backend and a fake OpenAI server."""

import json
import math

import pytest

from fsa_distill.cli import main
from fsa_distill.errors import FsaError
from fsa_distill.evaluation import zeroshot as zs
from fsa_distill.evaluation.zeroshot import ZeroShotConfig
from fsa_distill.evaluation.zeroshot_data import aggregate, load_items, select
from fsa_distill.evaluation.zeroshot_scorers import (
    LabelWordSettings,
    classification_metrics,
    decide_by_scores,
    label_word_scores,
    margin_ranking,
)
from fsa_distill.teacher.text import sentiment_value


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_items(path, rows, jsonl=True):
    text = "".join(json.dumps(r) + "\n" for r in rows) if jsonl else json.dumps(rows)
    path.write_text(text, encoding="utf-8")
    return path


ITEMS = [{"sentence": "A wonderful, moving film.", "label": "positive"},
         {"sentence": "Dull and far too long.", "label": "negative"},
         {"sentence": "The cast is superb.", "label": "positive"},
         {"sentence": "I wanted my money back.", "label": "negative"},
         {"sentence": "Not bad at all.", "label": "positive"},
         {"sentence": "A mess from start to finish.", "label": "negative"}]


# ------------------------------------------------------------------------------------- data
def test_shipped_sets_and_user_files(tmp_path):
    sst = load_items("sst2")
    assert len(sst) == 1821 and {it.label for it in sst} == {"positive", "negative"}
    assert load_items("sst2", "val")[0].sentence == "a compelling film ."
    yelp = load_items("yelp2")
    assert not any("\\n" in it.sentence for it in yelp) and any("\n" in it.sentence for it in yelp)
    as_array = load_items(str(write_items(tmp_path / "a.json", ITEMS, jsonl=False)))
    as_lines = load_items(str(write_items(tmp_path / "a.jsonl", ITEMS)))
    assert as_array == as_lines and [it.id for it in as_lines] == list(range(6))
    ints = load_items(str(write_items(tmp_path / "i.jsonl", [{"sentence": "x", "label": 1},
                                                             {"sentence": "y", "label": 0}])))
    assert [it.label for it in ints] == ["positive", "negative"]


@pytest.mark.parametrize("rows,message", [
    ([{"sentence": "ok", "label": "positive"}, {"sentence": "meh", "label": "neutral"}],
     r"bad.jsonl: record 1: label: expected positive or negative .*'neutral'"),
    ([{"text": "no sentence key", "label": "positive"}], r"bad.jsonl: record 0: missing 'sentence'"),
    ([{"sentence": "  ", "label": "negative"}], r"bad.jsonl: record 0: sentence: expected a non-empty string"),
    ([["sentence", "label"]], r"bad.jsonl: record 0: expected an object"),
])
def test_bad_files_name_the_file_and_record(tmp_path, rows, message):
    with pytest.raises(FsaError, match=message):
        load_items(str(write_items(tmp_path / "bad.jsonl", rows)))


def test_unreadable_files(tmp_path):
    (tmp_path / "broken.jsonl").write_text('{"sentence": "a", "label": "positive"}\n{oops\n', encoding="utf-8")
    with pytest.raises(FsaError, match=r"broken.jsonl: line 2: invalid JSON"):
        load_items(str(tmp_path / "broken.jsonl"))
    with pytest.raises(FsaError, match="not a shipped dataset"):
        load_items(str(tmp_path / "missing.json"))
    with pytest.raises(FsaError, match="no split 'train'"):
        load_items("sst2", "train")


def test_limit_takes_the_same_seeded_subset_in_file_order():
    items = load_items("sst2")
    a, b, c = select(items, 20, 1), select(items, 20, 1), select(items, 20, 2)
    assert a == b and a != c and [it.id for it in a] == sorted(it.id for it in a)
    assert select(items, None, 1) == items


# ------------------------------------------------------------------------- grades, aggregation
@pytest.mark.parametrize("label,value", [
    ("Very Positive", 2.0), ("Positive", 1.0), ("Mildly Positive", 0.5), ("Mild Positive", 0.5),
    ("Neutral", 0.0), ("Mild Sentiment", 0.0), ("Mild Negative", -0.5), ("Negative", -1.0),
    ("Very Negative", -2.0), ("Extremely negative.", -2.0), ("Positive/Negative", 0.0),
    ("Positive (the reviewer is very happy but slightly negative about the price)", 1.0),
    ("90%", None), ("", None),
])
def test_sentiment_grades(label, value):
    assert sentiment_value(label) == value


def test_aggregation_sums_stated_sentiments():
    text = ('Opinion Target 1: "pasta"\nAspect: Food Quality\nSentiment: Very Positive\nReasoning: "superb".\n\n'
            'Opinion Target 2: "waiter"\nAspect: Service\nSentiment: Negative\nReasoning: rude.\n\n'
            'Opinion Target 3: "price"\nAspect: Price\nSentiment: Mild Negative\nReasoning: a bit steep.')
    a = aggregate(text)
    assert a["labels"] == ["Very Positive", "Negative", "Mild Negative"] and a["total"] == 0.5
    assert a["decision"] == "positive"
    assert aggregate(text.replace("Very Positive", "Positive"))["decision"] == "negative"
    tie = aggregate("Sentiment: Positive\nSentiment: Negative")
    assert tie["total"] == 0 and tie["decision"] == "undecided"
    assert aggregate("I loved the place and the staff.")["decision"] == "undecided"  # a rewrite, no sentiments
    assert aggregate("Sentiment: Confidence 90%")["grades"] == [None]


def test_undecided_counts_as_wrong():
    m = classification_metrics(["positive", "negative", "positive", "negative"],
                               ["positive", "negative", "undecided", "positive"])
    assert m["accuracy"] == 0.5 and m["undecided"] == 1
    # positive: P 1/2 R 1/2; negative: P 1/1 R 1/2 -> F1 0.5 and 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["confusion"]["positive"] == {"positive": 1, "negative": 0, "undecided": 1}


def test_margin_ranking_sees_signal_below_a_constant_answer():
    gold = ["positive", "negative", "positive", "negative", "positive", "negative"]
    # every margin > 0: the answer is "positive" everywhere, accuracy = the majority's ...
    ranked = [{"positive": 1.0 + m, "negative": 1.0} for m in (0.9, 0.1, 0.8, 0.2, 0.7, 0.3)]
    assert {decide_by_scores(s) for s in ranked} == {"positive"}
    r = margin_ranking(gold, ranked)
    # ... yet the margins put every positive above every negative
    assert r["auc"] == pytest.approx(1.0) and r["auc_ci95"][0] == pytest.approx(1.0)
    assert r["margin_mean"] == pytest.approx(0.5)
    # a margin that ignores the text: no ranking (ties: AUC 0.5), spread 0
    flat = margin_ranking(gold, [{"positive": 2.0, "negative": 1.0}] * 6)
    assert flat["auc"] == pytest.approx(0.5) and flat["margin_sd"] == pytest.approx(0.0)
    # the margins put every negative above every positive: AUC 0
    inverted = [{"positive": 1.0 + m, "negative": 1.0} for m in (0.1, 0.9, 0.2, 0.8, 0.3, 0.7)]
    assert margin_ranking(gold, inverted)["auc"] == pytest.approx(0.0)
    # one class only: nothing to rank
    assert margin_ranking(["positive"] * 3, ranked[:3])["auc"] is None


# ------------------------------------------------------------------------ the tiny student
@pytest.fixture(scope="module")
def tiny():
    from fsa_distill.models import load_student

    return load_student("tiny")


def test_label_word_scores_are_the_models_log_likelihood(tiny):
    import torch

    model, tok = tiny
    texts = ["The pasta was great.", "Terrible service, cold food and a long wait."]
    scores = label_word_scores(model, tok, texts, LabelWordSettings())

    def loglik(text, target, first=0):
        enc = tok([text], return_tensors="pt")
        ids = tok(target, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = model(**enc, labels=torch.tensor([ids])).logits[0]
        lp = torch.log_softmax(logits, -1)
        return sum(lp[i, t].item() for i, t in enumerate(ids) if i >= first)

    for text, s in zip(texts, scores):
        assert s["positive"] == pytest.approx(loglik(text, "positive"), abs=1e-4)
        assert s["negative"] == pytest.approx(loglik(text, "negative"), abs=1e-4)

    # several words per label: the log of their summed likelihoods
    two = label_word_scores(model, tok, texts[:1], LabelWordSettings(
        verbalizers={"positive": ["positive", "great"], "negative": ["negative"]}))[0]
    expected = math.log(math.exp(loglik(texts[0], "positive")) + math.exp(loglik(texts[0], "great")))
    assert two["positive"] == pytest.approx(expected, abs=1e-4)

    # a target template: only the word's tokens count, conditioned on the prefix
    templ = LabelWordSettings(template="Review: {text}", target_template="Sentiment: {word}")
    got = label_word_scores(model, tok, texts[:1], templ)[0]
    n_pre = len(tok("Sentiment:", add_special_tokens=False)["input_ids"])
    full = tok("Sentiment: positive", add_special_tokens=False)["input_ids"]
    assert full[:n_pre] == tok("Sentiment:", add_special_tokens=False)["input_ids"]
    assert got["positive"] == pytest.approx(loglik("Review: " + texts[0], "Sentiment: positive", n_pre), abs=1e-4)


def test_student_run_writes_traceable_outputs(tmp_path, capsys):
    out = tmp_path / "zs"
    rc = main(["zeroshot", "--model", "tiny", "--dataset", "sst2", "--limit", "12", "--seed", "5",
               "--output", str(out), "--quiet", "analysis.max_length=24"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    info = json.loads((out / "run_info.json").read_text())
    assert info["kind"] == "zeroshot" and info["model"] == "tiny" and info["seed"] == 5 and info["n"] == 12
    assert info["dataset"] == "sst2" and set(metrics) == {"label-words", "analysis"}
    assert printed["accuracy"] == {k: m["accuracy"] for k, m in metrics.items()}
    assert "max_length: 24" in (out / "config.yaml").read_text()
    items = {it.id: it for it in select(load_items("sst2"), 12, 5)}
    for method in ("label-words", "analysis"):
        rows = read_jsonl(out / f"predictions_{method}.jsonl")
        assert [r["id"] for r in rows] == sorted(items)
        assert all(r["label"] == items[r["id"]].label and r["sentence"] == items[r["id"]].sentence for r in rows)
        # every number of metrics.json comes back from the predictions file
        again = classification_metrics([r["label"] for r in rows], [r["prediction"] for r in rows])
        assert {k: metrics[method][k] for k in again} == again
    lw = read_jsonl(out / "predictions_label-words.jsonl")
    assert all(r["prediction"] == max(r["scores"], key=r["scores"].get) for r in lw)
    assert metrics["label-words"]["margin"] == margin_ranking([r["label"] for r in lw], [r["scores"] for r in lw])
    an = read_jsonl(out / "predictions_analysis.jsonl")
    assert all(r["generation"].startswith("Opinion Target 1:") for r in an)  # the forced prefix
    m = metrics["analysis"]
    assert m["fallback_to_label_words"] == sum(r["decided_by"] == "label-words" for r in an)
    assert m["analysis_undecided"] == sum(r["decided_by"] != "analysis" for r in an)
    for r in an:  # the fallback is the label-word method's own answer for that item
        if r["decided_by"] == "label-words":
            assert r["prediction"] == next(x["prediction"] for x in lw if x["id"] == r["id"])


def test_analysis_method_with_known_generations(tmp_path, monkeypatch):
    data = write_items(tmp_path / "six.jsonl", ITEMS)
    canned = {
        "A wonderful, moving film.": "Opinion Target 1: \"film\"\nAspect: Overall\nSentiment: Very Positive",
        "Dull and far too long.": "Opinion Target 1: \"film\"\nSentiment: Negative\nSentiment: Mild Negative",
        "The cast is superb.": "Opinion Target 1: \"cast\"\nSentiment: Positive\nSentiment: Negative",  # tie
        "I wanted my money back.": "I wanted my money back because it was bad.",  # no sentiment stated
        "Not bad at all.": "Opinion Target 1: \"it\"\nSentiment: Negative",  # wrong, but decided
        "A mess from start to finish.": "Opinion Target 1: \"film\"\nSentiment: Very Negative",
    }
    monkeypatch.setattr(zs, "generate_analyses", lambda model, tok, texts, settings, progress: [canned[t] for t in texts])
    base = dict(model="tiny", dataset=str(data), methods=["analysis"])
    strict = zs.zeroshot(ZeroShotConfig(**base, output_dir=str(tmp_path / "u"), analysis={"fallback": "undecided"}),
                         progress=False)["metrics"]["analysis"]
    assert strict["undecided"] == 2 and strict["analysis_undecided"] == 2 and strict["fallback_to_label_words"] == 0
    assert strict["accuracy"] == pytest.approx(3 / 6)  # 3 right, 1 wrong, 2 undecided
    assert strict["no_sentiment_stated"] == 1
    fb = zs.zeroshot(ZeroShotConfig(**base, output_dir=str(tmp_path / "f")), progress=False)["metrics"]["analysis"]
    assert fb["undecided"] == 0 and fb["analysis_undecided"] == 2 and fb["fallback_to_label_words"] == 2
    rows = {r["sentence"]: r for r in read_jsonl(tmp_path / "f" / "predictions_analysis.jsonl")}
    tie = rows["The cast is superb."]
    assert tie["decided_by"] == "label-words" and tie["prediction"] == max(tie["fallback_scores"],
                                                                           key=tie["fallback_scores"].get)
    assert rows["Not bad at all."]["prediction"] == "negative" and rows["Not bad at all."]["decided_by"] == "analysis"


# ------------------------------------------------------------------------------- LLM backends
def test_llm_with_the_replay_backend(tmp_path):
    data = write_items(tmp_path / "six.jsonl", ITEMS)
    answers = ["Positive.", "negative - the reviewer is bored", "I cannot tell.", "NEGATIVE", "Positive"]
    rec = write_items(tmp_path / "rec.jsonl", [{"text": it["sentence"], "kind": "zeroshot-polarity", "raw_response": a}
                                              for it, a in zip(ITEMS, answers)])  # the last item has none
    out = tmp_path / "replay"
    assert main(["zeroshot", "--backend", "replay", "--recordings", str(rec), "--dataset", str(data),
                 "--output", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())["llm"]
    assert m["n"] == 6 and m["undecided"] == 2 and m["unparseable"] == 1 and m["no_answer"] == 1
    assert m["accuracy"] == pytest.approx(4 / 6)
    rows = read_jsonl(out / "predictions_llm.jsonl")
    assert [r["prediction"] for r in rows] == ["positive", "negative", "undecided", "negative", "positive", "undecided"]
    assert rows[2]["raw"] == "I cannot tell." and rows[5]["finish_reason"] == "no_recording"
    info = json.loads((out / "run_info.json").read_text())
    assert info["kind"] == "zeroshot" and info["system"] == "llm" and info["model"].endswith("(recorded)")


NEGATIVE_CUES = ("dull", "money back", "mess")


def cue_answer(body: dict) -> str:
    """'Negative' for texts with a negative cue word, else 'Positive'."""
    prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    text = prompt.rsplit("Text:", 1)[-1].lower()
    return "Negative" if any(w in text for w in NEGATIVE_CUES) else "Positive"


@pytest.fixture
def fake_openai(fake_server):
    return fake_server(cue_answer, prompt_tokens=20, completion_tokens=1)


@pytest.mark.parametrize("mode", ["chat", "completion"])
def test_llm_through_a_fake_openai_server(fake_openai, tmp_path, mode):
    data = write_items(tmp_path / "six.jsonl", ITEMS)
    out = tmp_path / mode
    assert main(["zeroshot", "--backend", "openai", "--base-url", fake_openai.base_url, "--llm-model", "fake",
                 "--mode", mode, "--dataset", str(data), "--output", str(out), "--quiet"]) == 0
    assert len(fake_openai.requests) == 6
    for path, body in zip(fake_openai.paths, fake_openai.requests):
        assert body["max_tokens"] == 16 and body["temperature"] == 0.0 and body["model"] == "fake"
        if mode == "chat":
            assert path.endswith("/chat/completions") and body["messages"][0]["role"] == "user"
        else:
            assert path.endswith("/v1/completions") and body["prompt"].endswith("\nSentiment:")
            assert body["stop"] == ["\n"]
    m = json.loads((out / "metrics.json").read_text())["llm"]
    # the fake answers by cue words, which happen to be right on all six items
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["undecided"] == 0
    rows = read_jsonl(out / "predictions_llm.jsonl")
    assert all(r["prompt_tokens"] == 20 and r["raw"].strip() in ("Positive", "Negative") for r in rows)
    info = json.loads((out / "run_info.json").read_text())
    assert info["model"] == "fake" and info["mode"] == mode


def test_config_errors(tmp_path):
    with pytest.raises(FsaError, match="exactly one of model"):
        from fsa_distill.config import build_config
        build_config(ZeroShotConfig, {"model": "tiny", "backend": {"type": "replay"}})
    with pytest.raises(FsaError, match="exactly one of model"):
        from fsa_distill.config import build_config
        build_config(ZeroShotConfig, {})
    assert main(["zeroshot", "--model", "tiny", "label_words.template=no placeholder",
                 "--output", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()  # nothing written for a config that never validated


def test_shipped_configs_validate():
    from pathlib import Path

    from fsa_distill.config import load_config

    files = sorted((Path(__file__).resolve().parents[2] / "configs" / "zeroshot").glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        cfg = load_config(ZeroShotConfig, f)
        assert (cfg.model is None) != (cfg.backend is None), f


def test_llm_through_the_transformers_backend(tmp_path):
    """An untrained 2-layer GPT-2 saved here: its answers are noise, so what is checked is the
    plumbing - every item asked once, raw answers kept, undecided counted, not dropped."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([it["sentence"] + " Sentiment: positive negative" for it in ITEMS] * 5,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>")
    GPT2LMHeadModel(GPT2Config(vocab_size=fast.vocab_size, n_positions=256, n_embd=32, n_layer=2, n_head=2,
                               eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id)).save_pretrained(tmp_path / "lm")
    fast.save_pretrained(tmp_path / "lm")
    data = write_items(tmp_path / "six.jsonl", ITEMS)
    out = tmp_path / "tf"
    assert main(["zeroshot", "--backend", "transformers", "--llm-model", str(tmp_path / "lm"), "--dataset", str(data),
                 "--max-tokens", "4", "--output", str(out), "--quiet"]) == 0
    rows = read_jsonl(out / "predictions_llm.jsonl")
    m = json.loads((out / "metrics.json").read_text())["llm"]
    assert len(rows) == 6 == m["n"] and all(0 < r["completion_tokens"] <= 4 for r in rows)
    assert m["undecided"] == sum(r["prediction"] == "undecided" for r in rows) == m["unparseable"] + m["no_answer"]
    assert all(r["prediction"] == (zs_parse(r["raw"]) or "undecided") for r in rows)
    assert json.loads((out / "run_info.json").read_text())["mode"] == "completion"  # no chat template


def zs_parse(text):
    from fsa_distill.evaluation.llm_prompts import parse_polarity

    return parse_polarity(text) if text.strip() else None
