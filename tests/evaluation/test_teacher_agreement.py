"""Zero-shot CIs and majority baseline; "does the student match its teacher" (issue 23, H5)."""

import pytest

from fsa_distill.evaluation import zeroshot as zs
from fsa_distill.evaluation import zeroshot_data as zd
from fsa_distill.evaluation import zeroshot_scorers as zm


def test_majority_baseline_and_cis_on_a_known_case():
    gold = ["positive"] * 6 + ["negative"] * 4
    m = zm.classification_metrics(gold, ["positive"] * 10)
    assert m["majority"] == {"label": "positive", "accuracy": 0.6, "macro_f1": pytest.approx(0.375)}
    # answering the majority label is exactly the baseline
    assert m["accuracy"] == pytest.approx(0.6) and m["macro_f1"] == pytest.approx(0.375)
    lo, hi = m["accuracy_ci95"]
    assert lo < 0.6 < hi and 0 <= lo and hi <= 1
    perfect = zm.classification_metrics(gold, gold)
    assert perfect["accuracy_ci95"] == [1.0, 1.0] and perfect["macro_f1_ci95"][1] == 1.0
    assert zm.classification_metrics(gold, gold) == perfect  # seeded: the same interval again
    assert zm.bootstrap_ci(["positive"], ["positive"]) == {"accuracy_ci95": None, "macro_f1_ci95": None}


def test_bootstrap_macro_f1_is_sklearns():
    import numpy as np
    from sklearn.metrics import f1_score

    gold = ["positive", "negative", "negative", "positive", "positive"]
    pred = ["positive", "undecided", "positive", "negative", "positive"]
    _, f1 = zm._acc_macro_f1(np.array(gold, dtype=object), np.array(pred, dtype=object))
    assert f1 == pytest.approx(f1_score(gold, pred, labels=["positive", "negative"], average="macro", zero_division=0))


def test_star_labels():
    assert [zd.star_label(s) for s in (5.0, 4, 3.0, 2, 1.0, None, "5", True)] == \
        ["positive", "positive", None, "negative", "negative", None, None, None]


def test_teacher_agreement_on_hand_made_rows():
    teacher = [{"id": 0, "label": "positive", "has_analysis": True, "teacher": "positive"},
               {"id": 1, "label": "negative", "has_analysis": True, "teacher": "positive"},   # teacher wrong
               {"id": 2, "label": "negative", "has_analysis": True, "teacher": "undecided"},  # counted wrong
               {"id": 3, "label": "positive", "has_analysis": False, "teacher": None}]        # rewrite only
    a = zm.teacher_agreement(teacher, {0: "positive", 1: "negative", 2: "negative", 3: "positive"})
    assert a["items"] == 4 and a["analysed"] == 3
    assert a["teacher_vs_stars"]["accuracy"] == pytest.approx(1 / 3) and a["teacher_vs_stars"]["undecided"] == 1
    # the student matches the teacher on item 0 only, of the 2 the teacher decided
    assert a["student_matches_teacher"] == {"n": 2, "agree": 1, "agreement": 0.5}
    assert a["student_vs_stars_on_analysed"]["accuracy"] == pytest.approx(1.0)
    assert "student_matches_teacher" not in zm.teacher_agreement(teacher)


def test_teacher_heldout_items_are_the_pretrainings_held_out_reviews():
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.student.pretrain_data import read_records, review_key, split_holdout

    items, teacher = zd.teacher_heldout()
    _, held = split_holdout(read_records([teacher_sample_path()]), 50, 42)
    held_keys = {review_key(r.text) for r in held}
    assert items and all(review_key(it.sentence) in held_keys for it in items)
    assert len({review_key(it.sentence) for it in items}) == len(items)  # one item per review
    assert [t["id"] for t in teacher] == [it.id for it in items] and all(t["label"] == it.label
                                                                        for t, it in zip(teacher, items))
    assert zd.load_items(zd.TEACHER_HELDOUT) == items
    analysed = [t for t in teacher if t["has_analysis"]]
    assert analysed and all(t["teacher"] in ("positive", "negative", "undecided") for t in analysed)
    a = zm.teacher_agreement(teacher)
    assert a["analysed"] == len(analysed) and a["teacher_vs_stars"]["n"] == len(analysed)


def test_a_student_zeroshot_run_on_teacher_heldout_reports_agreement(tmp_path):
    cfg = zs.ZeroShotConfig(dataset=zd.TEACHER_HELDOUT, model="tiny", label="plain", limit=8, seed=1,
                            methods=["label-words"], output_dir=str(tmp_path / "z"))
    result = zs.zeroshot(cfg, progress=False)
    m = result["metrics"]["label-words"]
    assert result["info"]["label"] == "plain" and m["n"] == 8
    agree = m["teacher_agreement"]
    assert agree["items"] == 8 and agree["student_matches_teacher"]["n"] <= agree["analysed"] <= 8
    from fsa_distill.evaluation.report import write_report

    md = write_report([tmp_path / "z"], tmp_path / "rep")["markdown"]
    assert "## Does the student match its teacher" in md and "| teacher (its analyses) | aggregate |" in md
    assert "| plain | label-words |" in md and "majority acc." in md
    # the label-word margin's ranking AUC is recorded and reaches the table
    auc = m["margin"]["auc"]
    row = next(line for line in md.splitlines() if line.startswith("| plain | teacher-heldout | label-words |"))
    assert "| AUC | 95% CI |" in md and (f"| {auc:.3f} |" in row if auc is not None else "| – |" in row)


def test_the_analysis_input_template_reaches_the_student(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(zs, "generate_analyses", lambda m, t, texts, s, p: seen.extend(texts) or ["" for _ in texts])
    cfg = zs.ZeroShotConfig(dataset="sst2", model="tiny", limit=3, methods=["analysis"],
                            analysis={"template": "analyse: {text}", "fallback": "undecided"},
                            output_dir=str(tmp_path / "z"))
    zs.zeroshot(cfg, progress=False)
    assert len(seen) == 3 and all(t.startswith("analyse: ") for t in seen)
    with pytest.raises(Exception, match="must contain"):
        zs.AnalysisSettings(template="no text here")
