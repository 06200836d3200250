import pytest

from fsa_distill.errors import FsaError
from fsa_distill.teacher.backends import RenderedPrompt
from fsa_distill.teacher.postprocess import parse_analysis
from fsa_distill.teacher.prompts import PROMPTS, SENTIMENT_SCALE, few_shot_examples, get_prompt

REVIEW = "The pasta was great but the waiter was rude. {not a format field}"


def test_chat_rendering_has_instructions_and_review():
    p = get_prompt("analysis-v1", "analysis").chat(REVIEW)
    assert p.mode == "chat" and p.kind == "analysis" and p.source == REVIEW
    system, user = p.messages
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"].endswith("Review: " + REVIEW)  # braces in a review are not format fields
    assert 'Opinion Target 1: "<the target, in the review\'s words>"\nAspect: <aspect>\nSentiment: <sentiment>\nReasoning: <reasoning>' in user["content"]
    assert all(label in user["content"] for label in SENTIMENT_SCALE)
    assert "implied" in user["content"]
    rw = get_prompt("rewrite-v1").chat(REVIEW).messages[1]["content"]
    assert "first person" in rw and "each aspect" in rw and rw.endswith(REVIEW)


@pytest.mark.parametrize("version,label", [("analysis-v1", "Analysis:"), ("rewrite-v1", "Rewrite:")])
def test_completion_rendering_is_few_shot_from_the_sample(version, label):
    spec = get_prompt(version)
    p = spec.completion(REVIEW, few_shot=2)
    assert p.mode == "completion" and p.stop == ("\n###", "\nReview:")
    assert p.text.endswith(f"Review: {REVIEW}\n{label}\n")
    examples = few_shot_examples(version)
    assert len(examples) == 3
    for review, answer in examples[:2]:
        assert f"Review: {review}\n{label}\n{answer}" in p.text
    assert examples[2][0] not in p.text
    assert spec.completion(REVIEW, few_shot=0).text.count("Review:") == 1


def test_analysis_examples_are_clean_parseable_teacher_answers():
    for review, answer in few_shot_examples("analysis-v1"):
        tuples, bad = parse_analysis(answer)
        assert tuples and bad == 0
        assert "Confidence" not in answer and "Note:" not in answer
    for _, answer in few_shot_examples("rewrite-v1"):
        assert not answer.startswith("Opinion Target") and answer == answer.strip()


def test_unknown_or_mismatched_version_is_a_user_error():
    with pytest.raises(FsaError, match="unknown prompt version 'analysis-v9'"):
        get_prompt("analysis-v9")
    with pytest.raises(FsaError, match="is a rewrite prompt"):
        get_prompt("rewrite-v1", "analysis")
    assert set(PROMPTS) >= {"analysis-v1", "rewrite-v1"}


def test_rendered_prompt_accepts_arbitrary_chat_or_text():
    assert RenderedPrompt.chat([{"role": "user", "content": "hi"}]).mode == "chat"
    assert RenderedPrompt.completion("hi").mode == "completion"
    with pytest.raises(ValueError):
        RenderedPrompt()
    with pytest.raises(ValueError):
        RenderedPrompt(messages=({"role": "user", "content": "a"},), text="b")
