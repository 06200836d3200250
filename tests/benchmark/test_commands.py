import json
import subprocess
import sys

from fsa_distill.benchmark.targets import make_target
from fsa_distill.benchmark.views import load_view
from fsa_distill.cli import main


def test_data_stats_json(capsys):
    assert main(["data", "stats", "--task", "acsa", "--dataset", "rest16", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["acsa/rest16"]["views"]["multi"] == {"sentences": 146, "gold_tuples": 325}


def write_preds(path, examples, fn):
    with open(path, "w") as f:
        for e in examples:
            f.write(json.dumps({"id": e.id, "prediction": fn(e)}) + "\n")


def test_score_gold_and_empty(tmp_path, capsys):
    examples = load_view("atsa", "laptop14", "normal")
    p = tmp_path / "p.jsonl"
    write_preds(p, examples, lambda e: make_target("atsa", e))
    assert main(["score", "--task", "atsa", "--dataset", "laptop14", "--predictions", str(p)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["f1"] == 1.0 and out["n_sentences"] == 1037 and out["n_gold"] == 944 and out["n_pred"] == 944
    # a file for the whole normal view also scores its sub-views
    assert main(["score", "--task", "atsa", "--dataset", "laptop14", "--view", "mams", "--predictions", str(p)]) == 0
    assert json.loads(capsys.readouterr().out)["n_sentences"] == 99
    write_preds(p, examples, lambda e: "")
    assert main(["score", "--task", "atsa", "--dataset", "laptop14", "--predictions", str(p)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["precision"] == 1.0 and out["recall"] == 0.0 and out["f1"] == 0.0


def test_score_missing_and_unknown_ids_are_errors(tmp_path):
    examples = load_view("atsa", "rest14", "hard")
    p = tmp_path / "p.jsonl"
    write_preds(p, examples[1:], lambda e: "")
    with open(p, "a") as f:
        f.write(json.dumps({"id": "nope", "prediction": ""}) + "\n")
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "score", "--task", "atsa", "--dataset", "rest14",
                        "--view", "hard", "--predictions", str(p)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "1 missing id(s)" in r.stderr and examples[0].id in r.stderr and "1 unknown id(s), e.g. nope" in r.stderr
