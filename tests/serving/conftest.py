"""Fixtures for the serving tests (helpers in serving_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))     # serving_helpers, browser
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # test_inference.make_tiny_model

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from serving_helpers import FakeAnalyzer, InProcessServer, wait_healthy  # noqa: E402


@pytest.fixture
def serve_app():
    """serve_app(analyzer=None, api_key=None, **config) -> a running InProcessServer."""
    from fsa_distill.serving.app import ServeConfig, create_app

    started = []

    def make(analyzer=None, api_key=None, wait=True, loader=None, **cfg):
        analyzer = analyzer or FakeAnalyzer()
        app = create_app(ServeConfig(model="fake-model", **cfg), api_key=api_key,
                         loader=loader or (lambda c: analyzer))
        srv = InProcessServer(app).__enter__()
        started.append(srv)
        if wait:
            wait_healthy(srv.base, timeout=30)
        srv.analyzer, srv.app = analyzer, app
        return srv

    yield make
    for srv in started:
        srv.__exit__()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from test_inference import make_tiny_model

    return make_tiny_model(tmp_path_factory.getbasetemp())
