import os

import pytest

# Tests never touch the network; presets are built into a per-session cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _preset_cache(tmp_path_factory):
    # Share one preset cache across the whole session (building `tiny` takes a few seconds),
    # but never the user's own cache.
    if "FSA_DISTILL_CACHE" not in os.environ:
        os.environ["FSA_DISTILL_CACHE"] = str(tmp_path_factory.mktemp("fsa-cache"))
    yield
