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
queued. The result objects are `fsa_distill.inference.AnalysisResult` itself, so the OpenAPI schema
and `SentimentAnalyzer.predict` cannot drift apart.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
from contextlib import asynccontextmanager
from importlib import resources as importlib_resources
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from fsa_distill.config import StrictConfig
from fsa_distill.inference import AnalysisResult
from fsa_distill.limits import MAX_JSON_DEPTH, MAX_TEXT_CHARS, echo
from fsa_distill.serving.batcher import Batcher, TextFailed

log = logging.getLogger(__name__)

DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_NUMBER_DIGITS = 100  # no field takes a number; int() of 4,300+ digits raises a plain ValueError


class ServeConfig(StrictConfig):
    model: str
    model_id: Optional[str] = None          # default: derived from the model card, else the folder name
    task: Optional[str] = None
    device: Optional[str] = None
    fast: bool = False
    compute_type: Optional[str] = None      # with fast: float32 (default) or a quantized CTranslate2 type
    keep_absent: bool = False
    max_batch: int = Field(32, ge=1, le=4096)
    max_wait_ms: float = Field(5.0, ge=0, le=60_000)
    batch_size: int = Field(32, ge=1, le=4096)  # generation batch inside one call (memory bound)
    max_texts: int = Field(DEFAULT_MAX_TEXTS, ge=1)
    max_text_chars: int = Field(MAX_TEXT_CHARS, ge=1)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=64)


# ------------------------------------------------------------------------------------ schemas
class PredictRequest(BaseModel):
    """Either `texts` (a list) or `text` (one string)."""

    model_config = ConfigDict(extra="forbid")
    texts: Optional[list[StrictStr]] = Field(None, description="texts to analyse, in order")
    text: Optional[StrictStr] = Field(None, description="a single text (instead of `texts`)")


class PredictResponse(BaseModel):
    model: str = Field(description="id of the model that answered")
    results: list[AnalysisResult] = Field(description="one result per text, in request order")


class ApiErrorBody(BaseModel):
    field: str = Field(description="the offending field: body, texts, texts[3], text, authorization ...")
    message: str


class ErrorResponse(BaseModel):
    error: ApiErrorBody


class ApiError(Exception):
    def __init__(self, status: int, field: str, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


# ------------------------------------------------------------------------------ request body
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a valid pair is one code point once JSON is decoded
# A JSON string, always matching from its opening quote (to the closing one, or to the end when
# unterminated), possessive: one linear pass, whatever the quotes and backslashes.
_JSON_STRING = re.compile(rb'(?s)"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def json_depth(body: bytes) -> int:
    """How deeply `body` nests arrays and objects, found without parsing it (json.loads would
    recurse into it): the brackets outside strings, counted in C-speed passes."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep: the common case costs two counts
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ApiError(400, "body", f"a number of {len(digits.lstrip('-'))} digits (at most {MAX_NUMBER_DIGITS}; "
                                    "no field takes a number)")
    return int(digits)


def parse_texts(body: bytes, cfg: ServeConfig) -> tuple[list[str], str]:
    """The texts of a request body and the field they came in ("texts" or "text"), or ApiError
    naming what is wrong and where."""
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "body", f"not valid UTF-8 (byte 0x{body[e.start]:02x} at offset {e.start})") from None
    if json_depth(body) > MAX_JSON_DEPTH:
        raise ApiError(400, "body", f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels "
                                    f"(limits.MAX_JSON_DEPTH; a request is 2 deep)")
    try:
        data = json.loads(raw, parse_int=_bounded_int)
    except json.JSONDecodeError as e:
        raise ApiError(400, "body", f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise ApiError(400, "body", "invalid JSON (nested too deeply)") from None
    except ValueError as e:  # a number json's own parser refuses: only a short, quoted message
        raise ApiError(400, "body", f"invalid JSON ({echo(str(e).split(':')[0])})") from None
    if not isinstance(data, dict):
        raise ApiError(422, "body", f"expected a JSON object with 'texts' or 'text', got {type(data).__name__}")
    unknown = next((key for key in data if key not in PredictRequest.model_fields), None)
    if unknown is not None:  # the client's key, quoted and cut short (it may be huge, or not Unicode)
        field = unknown if unknown.isidentifier() and len(unknown) <= 40 else echo(unknown)
        raise ApiError(422, field, "unknown field (expected 'texts' or 'text')")
    try:
        req = PredictRequest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise ApiError(422, _field(err["loc"]), err["msg"]) from None
    if (req.texts is None) == (req.text is None):
        raise ApiError(422, "texts", "give exactly one of 'texts' (a list) or 'text' (a string)")
    texts = [req.text] if req.text is not None else req.texts
    if not texts:
        raise ApiError(422, "texts", "empty list: give at least one text")
    if len(texts) > cfg.max_texts:
        raise ApiError(413, "texts", f"{len(texts)} texts: at most {cfg.max_texts} per request")
    field = "text" if req.text is not None else "texts"
    for i, t in enumerate(texts):
        if len(t) > cfg.max_text_chars:
            raise ApiError(413, _where(field, i), f"{len(t)} characters: at most {cfg.max_text_chars} per text "
                                                  f"(starts {echo(t[:40])})")
        bad = _LONE_SURROGATE.search(t)
        if bad:
            raise ApiError(422, _where(field, i), f"contains a lone surrogate (U+{ord(bad.group()):04X}) at "
                                                  f"character {bad.start()}: not Unicode text (fix the client's "
                                                  "encoding, or send U+FFFD in its place)")
    return texts, field


def _where(field: str, i: int) -> str:
    return field if field == "text" else f"texts[{i}]"


async def read_body(request, limit: int) -> bytes:
    """The body, refused early when it is declared or turns out larger than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(400, "content-length", "not a number")
        if len(declared) > 18 or int(declared) > limit:
            raise ApiError(413, "body", f"{declared[:20]} bytes: at most {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body", f"more than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # hung up mid-body: nobody to answer, nothing to log but this
        raise ApiError(400, "body", "the client closed the connection before sending the whole body") from None
    return b"".join(chunks)


async def _client_gone(request) -> None:
    """Returns when the client disconnects (uvicorn answers receive() with http.disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


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
        return _error(422, _field(tuple(err.get("loc", ()))), err.get("msg", "invalid"))


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
        gone = asyncio.ensure_future(_client_gone(request))
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
            raise ApiError(500, _where(field, e.index), "generation failed for this text (see the server log)") from None
        except Exception:  # noqa: BLE001 - logged with its traceback by the batcher
            raise ApiError(500, "model", "generation failed (see the server log)") from None
        # A Response skips FastAPI's re-validation of what AnalysisResult.to_dict() already is;
        # response_model above still documents it in OpenAPI.
        return JSONResponse({"model": state.model_id, "results": [r.to_dict() for r in results]})


def _version() -> str:
    from fsa_distill import __version__

    return __version__
