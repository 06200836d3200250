"""The FSA benchmark: datasets, target strings, views and the reference-exact scorer.

    from fsa_distill.benchmark import load_split, load_view, make_target, parse_pairs, score
"""

from fsa_distill.benchmark.data import (POLARITIES, TASK_DATASETS, TASKS, Aspect, Example, load_file,
                                        load_split)
from fsa_distill.benchmark.scoring import score, score_pairs
from fsa_distill.benchmark.targets import make_target, parse_pairs
from fsa_distill.benchmark.views import VIEWS, canonical_view, load_view

__all__ = ["POLARITIES", "TASKS", "TASK_DATASETS", "VIEWS", "Aspect", "Example", "canonical_view",
           "load_file", "load_split", "load_view", "make_target", "parse_pairs", "score", "score_pairs"]
