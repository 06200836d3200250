"""Evaluation: scoring on the benchmark views, zero-shot, LLM evaluation, reports.

    evaluate.py     score_views (the one loop over views) and evaluate_views for a student
    llm_eval.py     an LLM as an FSA system, scored by score_views
    llm_prompts.py  the prompts of llm-eval and zeroshot, and the parsers of their answers
    llm_backend.py  the teacher's backends driven as systems under test (flags, runner)
    zeroshot.py     sentence polarity with a student (label words, analysis) or an LLM
    report.py       tables and plots over run folders (runs.find_runs) and seeds
    commands.py     `fsa-distill evaluate`, `zeroshot`, `llm-eval`, `report`
"""
