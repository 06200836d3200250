"""The extractive student: the real fine-tuning recipe for a few steps, the folder it writes, and
the one Student interface that loads either family for evaluate, predict and serve."""

import json
from pathlib import Path

import pytest

from fsa_distill.cli import main
from fsa_distill.errors import FsaError
from fsa_distill.inference import SentimentAnalyzer
from fsa_distill.inference.student import ExtractiveStudent, GenerativeStudent, load
from fsa_distill.student.finetune import FinetuneConfig, finetune

TINY_TRAIN = {"train_limit": 48, "dev_limit": 24, "epochs": 2, "logging_steps": 2, "learning_rate": 1e-4}


@pytest.fixture(scope="module")
def atsa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tagger") / "atsa"
    cfg = FinetuneConfig(model="minilm-tagger", task="atsa", dataset="rest14", output_dir=str(out), test_limit=60,
                         train={**TINY_TRAIN, "eval_every_steps": 2, "patience": 2})
    return finetune(cfg, progress=False)


@pytest.fixture(scope="module")
def acsa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tagger") / "acsa"
    cfg = FinetuneConfig(model="minilm-tagger", task="acsa", dataset="rest16", output_dir=str(out), test_limit=40,
                         train={**TINY_TRAIN, "freeze_embeddings": True})
    return finetune(cfg, progress=False)


def test_the_tagger_run_writes_a_loadable_extractive_model_folder(atsa_run):
    d = Path(atsa_run["run_dir"])
    meta = json.loads((d / "best_model" / "fsa_distill.json").read_text())
    assert meta["family"] == "extractive" and meta["task"] == "atsa" and "scores" in meta
    assert json.loads((d / "best_model" / "config.json").read_text())["model_type"] == "fsa-tagger"
    assert not list(d.rglob("*.bin"))
    student = load(d / "best_model", device="cpu")
    assert isinstance(student, ExtractiveStudent) and student.task == "atsa"
    info = json.loads((d / "run_info.json").read_text())
    assert info["family"] == "extractive" and info["parameters"] == student.parameters()


def test_early_stopping_stops_after_patience_evaluations_without_a_better_dev_f1(tmp_path):
    """At a learning rate of 1e-12 dev F1 cannot change, so nothing after the first evaluation is
    strictly better: evaluations at steps 2, 4, 6, then the stop, half-way through the 12 steps."""
    cfg = FinetuneConfig(model="minilm-tagger", output_dir=str(tmp_path / "run"), test_limit=10,
                         train={**TINY_TRAIN, "epochs": 4, "learning_rate": 1e-12, "eval_every_steps": 2,
                                "patience": 2})
    info = finetune(cfg, progress=False)["info"]
    curve = json.loads((tmp_path / "run" / "dev_curve.json").read_text())
    assert [p["step"] for p in curve] == [2, 4, 6] and [p["best"] for p in curve] == [True, False, False]
    assert info["steps"] == 6 and info["best_step"] == 2 and info["evaluations_after_best"] == 2
    assert info["converged"] is True and info["stopped_early"] is True


def test_dev_is_analysed_every_n_steps(atsa_run):
    curve = json.loads((Path(atsa_run["run_dir"]) / "dev_curve.json").read_text())
    assert [p["step"] for p in curve][:2] == [2, 4]


def test_a_run_that_hits_the_epoch_cap_is_recorded_as_not_converged(tmp_path):
    """Patience 50 cannot run out in 2 epochs: the cap ends the run, so it did not converge."""
    cfg = FinetuneConfig(model="tiny", output_dir=str(tmp_path / "run"), test_limit=20, decode={"max_length": 12},
                         train={"train_limit": 32, "dev_limit": 16, "epochs": 2, "patience": 50})
    info = finetune(cfg, progress=False)["info"]
    assert info["converged"] is False and info["stopped_early"] is False and info["epoch_cap"] == 2
    card = (tmp_path / "run" / "best_model" / "README.md").read_text()
    assert "not converged" in card


def test_without_patience_convergence_is_unknown_not_claimed(acsa_run):
    assert acsa_run["info"]["converged"] is None and acsa_run["info"]["patience"] is None


def test_acsa_tagger_writes_reference_category_strings(acsa_run):
    d = Path(acsa_run["run_dir"])
    from fsa_distill.models import resolve_model
    from fsa_distill.models.tagger import load_tagger

    frozen = load_tagger(resolve_model("minilm-tagger")).get_input_embeddings().weight
    trained = load_tagger(d / "best_model").get_input_embeddings().weight
    assert (frozen == trained).all()  # freeze_embeddings: the word table never moved
    config = json.loads((d / "best_model" / "config.json").read_text())
    assert "FOOD#QUALITY" in config["categories"] and len(config["categories"]) == 30  # 6 entities x 5 attributes
    rows = [json.loads(x) for x in (d / "eval" / "predictions_normal.jsonl").read_text().splitlines()]
    assert len(rows) == 40
    for r in rows:  # every chunk parses: lower-cased category, a polarity
        for chunk in filter(None, r["prediction"].split(" ; ")):
            cat, pol = chunk.split(" | ")
            assert cat == cat.lower() and "#" not in cat and pol in ("positive", "negative", "neutral", "conflict")


def test_either_family_loads_through_the_same_call(atsa_run, tmp_path):
    gen_dir = tmp_path / "tiny"
    cfg = FinetuneConfig(model="tiny", output_dir=str(gen_dir), test_limit=10, decode={"max_length": 12},
                         train={"train_limit": 16, "dev_limit": 8, "epochs": 1})
    finetune(cfg, progress=False)
    gen = load(gen_dir / "best_model", device="cpu")
    ext = load(Path(atsa_run["run_dir"]) / "best_model", device="cpu")
    assert isinstance(gen, GenerativeStudent) and isinstance(ext, ExtractiveStudent)
    assert gen.decode.max_length == 12  # the recorded decode settings, not the defaults
    for student in (gen, ext):
        strings = student.analyse(["The food was great.", "", "Service was slow."])
        assert len(strings) == 3 and strings[1] == ""


def test_evaluate_scores_the_tagger_as_the_run_did(atsa_run, tmp_path, capsys):
    best = f"{atsa_run['run_dir']}/best_model"
    assert main(["evaluate", "--model", best, "--limit", "60", "--quiet", "--output", str(tmp_path / "ev")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["f1"]["normal"] == pytest.approx(atsa_run["metrics"]["normal"]["f1"])
    assert json.loads((tmp_path / "ev" / "eval_info.json").read_text())["family"] == "extractive"


def test_predict_answers_with_the_tagger_and_terms_are_the_texts_own(atsa_run):
    sa = SentimentAnalyzer.from_pretrained(Path(atsa_run["run_dir"]) / "best_model", device="cpu")
    assert sa.family == "extractive"
    text = "The Pasta was great but the waiter was rude."
    result = sa.predict(text)
    for a in result.aspects:  # cut from the sentence: always in it, exactly
        assert a.in_text and text[a.start:a.end] == a.aspect


def test_the_fast_path_and_wrong_task_are_refused_for_a_tagger(atsa_run):
    best = Path(atsa_run["run_dir"]) / "best_model"
    pytest.importorskip("ctranslate2")
    with pytest.raises(FsaError, match="no fast path"):
        load(best, fast=True)
    with pytest.raises(FsaError, match="cannot answer acsa"):
        load(best, task="acsa")


def test_a_task_less_preset_is_not_a_trained_student():
    with pytest.raises(FsaError, match="fine-tune it first"):
        load("minilm-tagger", device="cpu")


def test_a_tagger_can_start_from_a_generative_students_encoder(tmp_path):
    """`family: extractive` on a generative (e.g. distilled) folder takes its encoder."""
    import torch

    from fsa_distill.models import build_preset

    gen = build_preset("minilm", tmp_path / "minilm")
    cfg = FinetuneConfig(model=str(gen), family="extractive", output_dir=str(tmp_path / "run"), test_limit=10,
                         train={"train_limit": 16, "dev_limit": 8, "max_steps": 1, "epochs": 1,
                                "learning_rate": 1e-12})
    finetune(cfg, progress=False)
    tagger = load(tmp_path / "run" / "best_model", device="cpu").model
    from fsa_distill.models import load_student

    seq2seq, _ = load_student(str(gen))
    a = seq2seq.get_encoder().state_dict()["encoder.layer.0.attention.self.query.weight"]
    b = tagger.encoder.state_dict()["encoder.layer.0.attention.self.query.weight"]
    assert torch.allclose(a, b, atol=1e-6)  # one step at lr 1e-12: the encoder it started from


def test_the_predict_command_answers_with_the_tagger(atsa_run, capsys):
    best = str(Path(atsa_run["run_dir"]) / "best_model")
    text = "The pasta was great but the waiter was rude."
    assert main(["predict", "--model", best, "--device", "cpu", text]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = SentimentAnalyzer.from_pretrained(best, device="cpu").predict(text).to_dict()
    assert row["status"] == "ok" and row["prediction"] == expected["generated"]



def scripted_dev(monkeypatch, f1s, patience: int, max_steps: int, **train) -> tuple[object, list[bool]]:
    """DevSelection fed a scripted dev F1 per evaluation (no model is run): the selection and,
    per evaluation, whether it asked training to stop."""
    from types import SimpleNamespace

    import fsa_distill.benchmark.scoring as scoring
    import fsa_distill.inference.student as student_mod
    from fsa_distill.student.finetune import DevSelection

    scores = iter(f1s)
    monkeypatch.setattr(student_mod, "wrap", lambda *a, **k: SimpleNamespace(analyse=lambda s, **kw: [""] * len(s)))
    monkeypatch.setattr(scoring, "score", lambda *a, **k: {"precision": 0, "recall": 0, "f1": next(scores)})
    cfg = FinetuneConfig(model="minilm-tagger", task="acsa", dataset="rest16", train={"patience": patience, **train})
    sel = DevSelection(cfg, None, [], None, False, {})
    model, stops = SimpleNamespace(state_dict=lambda: {}), []
    for step in range(1, len(f1s) + 1):
        control = SimpleNamespace(should_training_stop=False)
        sel.evaluate(model, SimpleNamespace(global_step=step, epoch=step, max_steps=max_steps, log_history=[]),
                     control)
        stops.append(control.should_training_stop)
    return sel, stops


def test_evaluations_before_the_first_nonzero_dev_f1_do_not_use_up_patience(monkeypatch):
    """An ACSA head whose sigmoids are all under 0.5 for its first epochs scores F1 0: that is a
    head that has not started, not a run that stopped improving (the first rest16 tagger run was
    stopped after three such evaluations)."""
    sel, stops = scripted_dev(monkeypatch, [0.0, 0.0, 0.0, 0.4, 0.3, 0.3], patience=2, max_steps=100)
    assert stops == [False, False, False, False, False, True]
    assert sel.best_step == 4 and sel.convergence()["converged"] is True


def test_a_silent_head_after_a_chance_first_score_does_not_use_up_patience(monkeypatch):
    """The 60-epoch rest16 tagger runs: a chance F1 at the first evaluation, then silence while the
    schedule warms up; the old rule stopped them there, before the head had learned anything."""
    sel, stops = scripted_dev(monkeypatch, [0.06, 0.0, 0.0, 0.0, 0.3, 0.2, 0.2], patience=2, max_steps=100)
    assert stops == [False] * 6 + [True]
    assert sel.best_step == 5


def test_a_plateau_above_zero_still_stops_at_patience(monkeypatch):
    _, stops = scripted_dev(monkeypatch, [0.3, 0.2, 0.0, 0.2], patience=2, max_steps=100)
    assert stops == [False, False, False, True]


def test_evaluations_up_to_patience_from_epoch_do_not_use_up_patience(monkeypatch):
    """The rest16 tagger-distilled runs at the 30-epoch cap: a noisy start (19, 11, 14, 19) stops
    at its third evaluation with patience 2 here; with patience counted after epoch 4 it goes on."""
    curve = [0.19, 0.11, 0.14, 0.19, 0.25, 0.24, 0.24]
    _, stops = scripted_dev(monkeypatch, curve, patience=2, max_steps=100)
    assert stops.index(True) == 2  # stopped at the third evaluation, best 0.19
    sel, stops = scripted_dev(monkeypatch, curve, patience=2, max_steps=100, patience_from_epoch=4)
    assert stops == [False] * 6 + [True]
    assert sel.best_step == 5 and sel.convergence()["patience_from_epoch"] == 4


def test_a_run_that_never_scores_is_not_converged(monkeypatch):
    sel, _ = scripted_dev(monkeypatch, [0.0, 0.0, 0.0], patience=1, max_steps=3)
    assert sel.convergence()["converged"] is False


def test_the_heads_can_learn_faster_than_the_pretrained_encoder(tmp_path):
    from fsa_distill.student.finetune import FinetuneRecipe

    cfg = FinetuneConfig(model="minilm-tagger", output_dir=str(tmp_path / "run"),
                         train={**TINY_TRAIN, "head_learning_rate": 1e-3, "freeze_embeddings": True})
    recipe = FinetuneRecipe(cfg, progress=False)
    recipe.setup()
    trainer = recipe.trainer(None)
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
    heads = {id(p) for m in (recipe.model.bio, recipe.model.polarity) for p in m.parameters()}
    assert {id(p) for p in groups[1]["params"]} == heads
    frozen = recipe.model.get_input_embeddings().weight
    assert id(frozen) not in {id(p) for p in groups[0]["params"]}  # frozen: not handed to the optimizer


def test_a_head_learning_rate_on_a_generative_student_is_refused(tmp_path):
    cfg = FinetuneConfig(model="tiny", output_dir=str(tmp_path / "run"),
                         train={**TINY_TRAIN, "head_learning_rate": 1e-3})
    with pytest.raises(FsaError, match="head_learning_rate: only an extractive student"):
        finetune(cfg, progress=False)


def test_constant_with_warmup_holds_the_learning_rate_after_warmup(tmp_path):
    """The schedule named in train.lr_scheduler is the one the trainer steps: after warmup the
    encoder's and the heads' rates stay where they are (linear would be halfway down at step 50)."""
    from fsa_distill.student.finetune import FinetuneRecipe

    cfg = FinetuneConfig(model="minilm-tagger", output_dir=str(tmp_path / "run"),
                         train={**TINY_TRAIN, "head_learning_rate": 1e-3, "warmup_ratio": 0.1,
                                "lr_scheduler": "constant_with_warmup"})
    recipe = FinetuneRecipe(cfg, progress=False)
    recipe.setup()
    trainer = recipe.trainer(None)
    trainer.args.warmup_steps = 10
    scheduler = trainer.create_scheduler(num_training_steps=100, optimizer=trainer.optimizer)
    rates = []
    for _ in range(60):
        trainer.optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr())
    assert rates[4] == pytest.approx([5e-5, 5e-4])       # warming up
    assert rates[20] == rates[59] == pytest.approx([1e-4, 1e-3])
