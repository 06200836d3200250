"""The HTTP API of a trained student (FastAPI): predict, health, model card, demo page.

    POST /v1/predict   {"texts": [...]} or {"text": "..."} -> {"model": id, "results": [AnalysisResult]}
    GET  /health       200 once the model is loaded, 503 before (or if loading failed)
    GET  /v1/model     task, dataset, scores, base model ... from the folder's fsa_distill.json
    GET  /             the demo page (static/index.html: no CDN, no build step)

The request body is read and checked here rather than by FastAPI's automatic body parsing, so
that every bad input - too large, not UTF-8, not JSON, wrong types, too many or too long texts -
is a 4xx with one JSON error shape naming the field ({"error": {"field", "message"}}), never a
500: also a body nested deeper than limits.MAX_JSON_DEPTH, an integer of more digits than
MAX_NUMBER_DIGITS (Python's int() would refuse 4,300) and a text holding a lone surrogate (it is
not Unicode text: no tokenizer and no JSON encoder takes it), all refused before anything is
queued (serving/body.py; the settings are serving/config.py). The result objects are `fsa_distill.inference.AnalysisResult` itself, so the OpenAPI schema
and `SentimentAnalyzer.predict` cannot drift apart.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from contextlib import asynccontextmanager
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fsa_distill.inference import AnalysisResult
from fsa_distill.serving.batcher import Batcher, TextFailed
from fsa_distill.serving.body import (
    ApiError,
    PredictRequest,
    client_gone,
    field_name,
    parse_texts,
    read_body,
    text_field,
)
from fsa_distill.serving.config import ServeConfig  # noqa: F401  (importable from here)

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------ schemas
class PredictResponse(BaseModel):
    model: str = Field(description="id of the model that answered")
    results: list[AnalysisResult] = Field(description="one result per text, in request order")


class ApiErrorBody(BaseModel):
    field: str = Field(description="the offending field: body, texts, texts[3], text, authorization ...")
    message: str


class ErrorResponse(BaseModel):
    error: ApiErrorBody


# ------------------------------------------------------------------------------- model state
def default_model_id(cfg: ServeConfig, meta: dict) -> str:
    if cfg.model_id:
        return cfg.model_id
    if meta.get("kind") == "finetuned" and meta.get("task"):
        base = Path(str(meta.get("base_model") or "model")).name
        return f"{base}-{meta['task']}-{meta.get('dataset', '')}-seed{meta.get('seed', '')}".replace("--", "-")
    return Path(cfg.model).name or cfg.model


def load_analyzer(cfg: ServeConfig):
    from fsa_distill.inference import SentimentAnalyzer

    return SentimentAnalyzer.from_pretrained(cfg.model, task=cfg.task, device=cfg.device, fast=cfg.fast,
                                             compute_type=cfg.compute_type, keep_absent=cfg.keep_absent)


class ServerState:
    """What the endpoints share: the analyzer once loaded, the batcher, the load error if any."""

    def __init__(self, cfg: ServeConfig, api_key: str | None, loader: Callable[[ServeConfig], Any]):
        self.cfg, self.api_key, self.loader = cfg, api_key, loader
        self.analyzer = None
        self.error: str | None = None
        self.model_id = cfg.model_id or Path(cfg.model).name
        self.loaded = threading.Event()
        self.batcher = Batcher(self._predict, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms)
        self.on_load_error: Callable[[str], None] | None = None

    def load(self) -> None:
        """Runs in a thread at startup, so /health can answer 503 while the model loads."""
        try:
            self.analyzer = self.loader(self.cfg)
            self.model_id = default_model_id(self.cfg, getattr(self.analyzer, "meta", {}) or {})
            self.loaded.set()
            log.info("model %s loaded (task %s, fast %s); serving", self.model_id, self.analyzer.task, self.cfg.fast)
        except Exception as e:  # noqa: BLE001 - reported by /health and by the serve command
            self.error = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.error("could not load the model: %s", self.error)
            if self.on_load_error:
                self.on_load_error(self.error)

    def _predict(self, texts: list[str]) -> list[AnalysisResult]:
        return self.analyzer.predict(list(texts), batch_size=self.cfg.batch_size)

    def model_info(self) -> dict:
        meta = dict(getattr(self.analyzer, "meta", {}) or {})
        return {"id": self.model_id, "family": getattr(self.analyzer, "family", None), "task": self.analyzer.task,
                "dataset": meta.get("dataset"),
                "seed": meta.get("seed"), "base_model": meta.get("base_model"), "scores": meta.get("scores") or {},
                "best_epoch": meta.get("best_epoch"), "decode": meta.get("decode") or {},
                "fast": self.cfg.fast, "compute_type": self.cfg.compute_type or "float32",
                "max_batch": self.cfg.max_batch, "max_wait_ms": self.cfg.max_wait_ms,
                "limits": {"max_texts": self.cfg.max_texts, "max_text_chars": self.cfg.max_text_chars,
                           "max_body_bytes": self.cfg.max_body_bytes}}


def demo_page() -> str:
    return importlib_resources.files("fsa_distill.serving").joinpath("static/index.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------- app
def _error(status: int, field: str, message: str, headers: dict | None = None):
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status, headers=headers)


ERRORS = {400: {"model": ErrorResponse, "description": "not UTF-8, not JSON, nested too deeply, a number too long"},
          401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
          413: {"model": ErrorResponse, "description": "too many texts, a text or the body too long"},
          422: {"model": ErrorResponse, "description": "wrong fields or types, empty list, a lone surrogate"},
          500: {"model": ErrorResponse, "description": "generation failed for one text (the field names it)"},
          503: {"model": ErrorResponse, "description": "the model is still loading"}}


def create_app(cfg: ServeConfig, api_key: str | None = None, loader: Callable[[ServeConfig], Any] = load_analyzer):
    """The ASGI app. `loader(cfg)` returns the analyzer (tests pass a fake); `api_key`, when set,
    is required as `Authorization: Bearer ...` on /v1/*."""
    state = ServerState(cfg, api_key, loader)

    @asynccontextmanager
    async def lifespan(app):
        state.batcher.start()
        threading.Thread(target=state.load, name="fsa-load-model", daemon=True).start()
        yield
        await state.batcher.stop()

    app = FastAPI(title="fsa-distill", version=_version(), lifespan=lifespan,
                  description="Aspect sentiment with a distilled student. Errors: {\"error\": {\"field\", \"message\"}}.")
    app.state.fsa = state
    _add_error_handlers(app)
    _add_routes(app, state, cfg)
    return app


def _add_error_handlers(app) -> None:
    """Every error, ours or the framework's, as {"error": {"field", "message"}}."""

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.field, exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return _error(exc.status_code, "path", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc):
        err = (exc.errors() or [{"loc": (), "msg": "invalid request"}])[0]
        return _error(422, field_name(tuple(err.get("loc", ()))), err.get("msg", "invalid"))


def _check_auth(state: ServerState, request) -> None:
    if state.api_key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), state.api_key.encode()):
        raise ApiError(401, "authorization", "expected 'Authorization: Bearer <token>'")


def _check_ready(state: ServerState) -> None:
    if not state.loaded.is_set():
        raise ApiError(503, "model", f"not loaded ({state.error})" if state.error else "still loading")


def _add_routes(app, state: ServerState, cfg: ServeConfig) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(demo_page())

    @app.get("/health", responses={503: {"description": "loading, or loading failed"}})
    async def health():
        body = {"status": "ok" if state.loaded.is_set() else ("error" if state.error else "loading"),
                "model": state.model_id, "auth": state.api_key is not None}
        if state.error:
            body["error"] = state.error
        return Response(json.dumps(body), status_code=200 if state.loaded.is_set() else 503,
                        media_type="application/json")

    @app.get("/v1/model", responses=ERRORS)
    async def model_info(request: Request) -> dict:
        _check_auth(state, request)
        _check_ready(state)
        return state.model_info()

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request):
        _check_auth(state, request)
        _check_ready(state)
        texts, field = parse_texts(await read_body(request, cfg.max_body_bytes), cfg)
        work = asyncio.ensure_future(state.batcher.submit(texts))
        gone = asyncio.ensure_future(client_gone(request))
        try:
            done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if work not in done:  # the client left: drop its queued texts, answer nobody
            work.cancel()
            return Response(status_code=499)
        try:
            results = work.result()
        except TextFailed as e:  # this text alone: the other texts of its batch were answered
            raise ApiError(500, text_field(field, e.index), "generation failed for this text (see the server log)") from None
        except Exception:  # noqa: BLE001 - logged with its traceback by the batcher
            raise ApiError(500, "model", "generation failed (see the server log)") from None
        # A Response skips FastAPI's re-validation of what AnalysisResult.to_dict() already is;
        # response_model above still documents it in OpenAPI.
        return JSONResponse({"model": state.model_id, "results": [r.to_dict() for r in results]})


def _version() -> str:
    from fsa_distill import __version__

    return __version__
