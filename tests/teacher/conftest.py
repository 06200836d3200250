import json
from pathlib import Path

import pytest

from fsa_distill.resources import open_text, teacher_sample_path
from fsa_distill.teacher.loopback import LoopbackServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sample_rows():
    with open_text(teacher_sample_path()) as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def reviews_500(tmp_path, sample_rows):
    """The 500 real reviews of the sample, made unique (one text occurs twice in it)."""
    seen, rows = set(), []
    for i, r in enumerate(sample_rows):
        text = r["Text"] if r["Text"] not in seen else r["Text"] + " (second visit)"
        seen.add(text)
        rows.append({"ID": f"r{i}", "Text": text, "Overall": r["Overall"]})
    path = tmp_path / "reviews500.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def loopback():
    """Factory for loopback servers on 127.0.0.1; every server started is stopped."""
    servers = []

    def start(**kw) -> LoopbackServer:
        srv = LoopbackServer(**kw).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
