"""Student decoding: from a sentence to the string a student writes, and back to the sentence.

One place for what the student, evaluation, `predict` and `serve` share:

    text.py       the `[NL]` codec (a newline is written as an added `[NL]` token on both sides)
    generate.py   decode settings and batched greedy/beam generation for any seq2seq student
    spans.py      the one span matcher: where a term occurs in a text (exact, ignoring case, or
                  ignoring case, accents, spacing and punctuation)
    grounding.py  span-grounded decoding: generated ATSA terms take the sentence's characters

Nothing here imports the student, evaluation or serving packages: they import it.
"""
