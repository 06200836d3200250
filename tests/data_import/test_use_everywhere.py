"""An imported folder works wherever a dataset is asked for: finetune, evaluate (cross-dataset),
run, data stats; and the shipped rest14/rest16 survive a SemEval XML round trip unchanged."""

import json

import pytest

from fsa_distill.benchmark.data import load_split
from fsa_distill.benchmark.stats import dataset_stats
from fsa_distill.cli import main

ROWS = [("The pasta was great but the waiter was rude.", [("pasta", "positive"), ("waiter", "negative")]),
        ("Lovely terrace, awful coffee.", [("terrace", "positive"), ("coffee", "negative")]),
        ("The bill was fair.", [("bill", "neutral")]),
        ("We left at nine.", [])] * 4


def norm(examples):
    """Records as content: the export writes offsets as ints and implicit targets as NULL."""
    return [(e.id, e.sentence, tuple((None if a.is_implicit else a.target, a.category, a.polarity,
                                      None if a.is_implicit else int(a.start), None if a.is_implicit else int(a.end),
                                      a.opinion_words) for a in e.aspects)) for e in examples]


@pytest.mark.parametrize("task,ds,fmt", [("atsa", "rest14", "semeval2014"), ("acsa", "rest16", "semeval2016")])
def test_shipped_round_trip_through_semeval_xml(tmp_path, capsys, task, ds, fmt):
    xml = tmp_path / "xml"
    assert main(["data", "export", "--task", task, "--dataset", ds, "--format", fmt, "--output", str(xml)]) == 0
    out = tmp_path / "back"
    assert main(["data", "import", "--task", task, "--output", str(out),
                 *(x for s in ("train", "dev", "test", "hard_test")
                   for x in (f"--{s.replace('_', '-')}", str(xml / f"{s}.xml")))]) == 0
    for split in ("train", "dev", "test", "hard_test"):
        assert norm(load_split(task, str(out), split)) == norm(load_split(task, ds, split)), split
    assert dataset_stats(task, str(out)) == dataset_stats(task, ds)
    capsys.readouterr()
    for option in ("--dataset", "--data-dir"):  # the folder itself; the task from its dataset.json
        assert main(["data", "stats", option, str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[f"{task}/{out}"] == dataset_stats(task, ds)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mine")
    lines = ["id,text,aspect,polarity"]
    for i, (text, aspects) in enumerate(ROWS):
        for term, pol in aspects or [("", "")]:
            lines.append(f'{i},"{text}",{term},{pol}')
    (tmp / "mine.csv").write_text("\n".join(lines) + "\n")
    out = tmp / "my-cafe"
    assert main(["data", "import", "--train", str(tmp / "mine.csv"), "--test", str(tmp / "mine.csv"),
                 "--output", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(model="tiny", task="atsa", dataset=str(folder), output_dir=str(tmp_path_factory.mktemp("ft")),
                         decode={"max_length": 16}, train={"max_steps": 2, "logging_steps": 1})
    return finetune(cfg, progress=False)


def test_finetune_on_an_imported_folder_skips_unavailable_views(trained):
    assert set(trained["metrics"]) == {"normal", "test", "multi"}  # no opinion words, no hard_test
    assert trained["metrics"]["normal"]["n_sentences"] == 16
    assert trained["metrics"]["normal"]["dataset_name"] == "my-cafe"


def test_evaluate_cross_dataset_records_the_evaluated_dataset(trained, folder, tmp_path, capsys):
    model = f"{trained['run_dir']}/best_model"
    assert main(["evaluate", "--model", model, "--dataset", "laptop14", "--limit", "30", "--max-length", "16",
                 "--quiet", "--output", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["dataset"] == "laptop14" and last["trained_on"] == str(folder) and "trained on atsa/my-cafe" in out
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["normal"]["dataset_name"] == "laptop14" and metrics["normal"]["trained_on"] == str(folder)
    # back on the folder, given as --data-dir: the views it cannot give are named, not scored
    assert main(["evaluate", "--model", model, "--data-dir", str(folder), "--max-length", "16",
                 "--quiet", "--output", str(tmp_path / "ev2")]) == 0
    out = capsys.readouterr().out
    assert "view implicit: skipped, unavailable on my-cafe (no opinion words" in out
    assert "view hard: skipped, unavailable on my-cafe (no hard_test.json)" in out
    info = json.loads((tmp_path / "ev2" / "eval_info.json").read_text())
    assert info["dataset_name"] == "my-cafe" and set(info["unavailable_views"]) == {"implicit", "hard"}


def test_evaluate_refuses_a_folder_of_the_other_task(trained, tmp_path, capsys):
    acsa = tmp_path / "acsa"
    xml = tmp_path / "xml"
    assert main(["data", "export", "--task", "acsa", "--dataset", "laptop16", "--format", "csv",
                 "--output", str(xml)]) == 0
    assert main(["data", "import", "--task", "acsa", "--train", str(xml / "dev.csv"), "--test", str(xml / "test.csv"),
                 "--output", str(acsa)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", f"{trained['run_dir']}/best_model", "--dataset", str(acsa)]) == 2
    assert "an acsa dataset, but the model is atsa" in capsys.readouterr().err


def test_run_with_a_task_naming_an_imported_folder(folder, tmp_path):
    from fsa_distill.pipeline.config import PipelineConfig
    from fsa_distill.pipeline.run import run_pipeline

    cfg = PipelineConfig(name="mine", output_dir=str(tmp_path / "exp"),
                         students=[{"name": "baseline", "model": "tiny"}], tasks={"atsa": [str(folder)]},
                         finetune={"decode": {"max_length": 16}, "train": {"max_steps": 2, "logging_steps": 1}})
    run_pipeline(cfg, progress=False)
    metrics = list((tmp_path / "exp" / "finetune" / "baseline").glob("atsa-my-cafe-seed42-*/metrics.json"))
    assert len(metrics) == 1 and set(json.loads(metrics[0].read_text())) == {"normal", "test", "multi"}
