"""fsa-distill: distill fine-grained sentiment understanding from an LLM into a small seq2seq model.

The public API is small on purpose:

    from fsa_distill import SentimentAnalyzer
    sa = SentimentAnalyzer.from_pretrained("runs/rest14/best_model")
    sa.predict("The pasta was great but the waiter was rude.")

Heavy modules (torch, transformers) are imported lazily so that `fsa-distill --help` and the
benchmark tools start fast.
"""

__version__ = "0.1.0"

__all__ = ["SentimentAnalyzer", "__version__"]


def __getattr__(name):
    if name == "SentimentAnalyzer":
        from fsa_distill.inference import SentimentAnalyzer

        return SentimentAnalyzer
    raise AttributeError(f"module 'fsa_distill' has no attribute {name!r}")
