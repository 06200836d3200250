"""The `[NL]` codec. As in the reference, '\n' is written as an added `[NL]` token on both sides
(sources and targets), because seq2seq tokenizers drop or merge newlines."""

NL_TOKEN = "[NL]"


def to_model_text(text: str) -> str:
    return text.replace("\n", NL_TOKEN)


def from_model_text(text: str) -> str:
    return text.replace(NL_TOKEN, "\n")
