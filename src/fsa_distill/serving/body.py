"""A request body read and checked before anything is queued: its size, UTF-8, JSON nesting,
overlong numbers, the texts' types, count, length and lone surrogates; every refusal an
`ApiError` (status, field, message) that the app answers in its one error shape."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from starlette.requests import ClientDisconnect

from fsa_distill.limits import MAX_JSON_DEPTH, echo
from fsa_distill.serving.config import MAX_NUMBER_DIGITS, ServeConfig


class PredictRequest(BaseModel):
    """Either `texts` (a list) or `text` (one string)."""

    model_config = ConfigDict(extra="forbid")
    texts: Optional[list[StrictStr]] = Field(None, description="texts to analyse, in order")
    text: Optional[StrictStr] = Field(None, description="a single text (instead of `texts`)")


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


def field_name(loc: tuple) -> str:
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
        raise ApiError(422, field_name(err["loc"]), err["msg"]) from None
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
            raise ApiError(413, text_field(field, i), f"{len(t)} characters: at most {cfg.max_text_chars} per text "
                                                  f"(starts {echo(t[:40])})")
        bad = _LONE_SURROGATE.search(t)
        if bad:
            raise ApiError(422, text_field(field, i), f"contains a lone surrogate (U+{ord(bad.group()):04X}) at "
                                                  f"character {bad.start()}: not Unicode text (fix the client's "
                                                  "encoding, or send U+FFFD in its place)")
    return texts, field


def text_field(field: str, i: int) -> str:
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


async def client_gone(request) -> None:
    """Returns when the client disconnects (uvicorn answers receive() with http.disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
