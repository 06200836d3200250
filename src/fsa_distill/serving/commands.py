"""`fsa-distill serve`: a trained student over HTTP (FastAPI + uvicorn), see docs/serve.md."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import re
import socket
from pathlib import Path

from fsa_distill.errors import FsaError
from fsa_distill.inference.fast import add_fast_flags
from fsa_distill.limits import echo

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a variable's name looks like (FSA_API_TOKEN, OPENAI_API_KEY, TOKEN2): upper case, words of
# at most 16 characters, few digits. Anything else that is not set is taken for a pasted value
# and never repeated.
CONVENTIONAL_NAME = re.compile(r"^_?[A-Z][A-Z0-9]{0,15}(_[A-Z0-9]{1,16})*_?$")


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve a trained model over HTTP: predict API, dynamic batching, demo page",
                       description="Serve a trained student: POST /v1/predict, GET /health, GET /v1/model, "
                                   "a demo page at /. Binds loopback unless --host says otherwise (then "
                                   "--api-key-env is required).")
    p.add_argument("--model", "-m", required=True, help="a model folder from `finetune`, a hub id or a preset")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    add_fast_flags(p)
    p.add_argument("--max-batch", type=int, default=32, help="most texts in one generation call (default 32; 1: no batching)")
    p.add_argument("--max-wait-ms", type=float, default=5.0,
                   help="how long the first queued text waits for others to join its batch (default 5)")
    p.add_argument("--max-texts", type=int, help="most texts per request (default 64)")
    p.add_argument("--max-text-chars", type=int, help="most characters per text (default FSA_DISTILL_MAX_TEXT_CHARS, 20000)")
    p.add_argument("--max-body-bytes", type=int, help="largest request body (default 2 MiB)")
    p.add_argument("--api-key-env", metavar="NAME",
                   help="require 'Authorization: Bearer <token>' on /v1/*, the token read from environment "
                        "variable NAME (never from the command line or a file)")
    p.add_argument("--task", choices=["atsa", "acsa"], help="default: the model's fsa_distill.json, else atsa")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--keep-absent", action="store_true", help="keep generated terms not in the text (in_text: false)")
    p.add_argument("--model-id", help="the id answers carry (default: from the model card, else the folder name)")
    p.set_defaults(func=run_serve)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_key_from_env(name: str | None, host: str) -> str | None:
    """The bearer token, from the environment only. A non-loopback bind without one is refused."""
    if name is None:
        if not is_loopback(host):
            raise FsaError(f"--host {host}: binding a non-loopback address needs a token: "
                           "export a secret in a variable and pass --api-key-env NAME")
        return None
    token = os.environ.get(name, "").strip() if ENV_NAME.match(name) else ""
    if token:
        return token
    if not looks_like_a_name(name):  # never echoed: it may be the token itself
        raise FsaError("--api-key-env: the argument looks like a value (a token?), not the NAME of an environment "
                       "variable, and no variable of that name is set (so it is not repeated here): export the "
                       "token (export FSA_API_TOKEN=...) and pass its name; a token never goes on the command line")
    raise FsaError(f"--api-key-env {name}: the environment variable {name} is not set or empty")


def looks_like_a_name(name: str) -> bool:
    return bool(CONVENTIONAL_NAME.match(name)) and sum(c.isdigit() for c in name) <= 4


def check_model_folder(spec: str) -> None:
    """What can be known about --model before the port is bound: an existing path must be a model
    folder (config.json, sound weights), a path-like spec that does not exist is an error. A preset
    or hub id passes; it is resolved when the model loads."""
    from fsa_distill.models import PRESETS, check_model_spec

    check_model_spec(spec)
    path = Path(spec).expanduser()
    first = path.parts[0] if path.parts else ""
    if not path.exists() and spec not in PRESETS and first and Path(first).is_dir():
        raise FsaError(f"model {echo(spec)}: no such folder")  # runs/x: a path, not a hub id
    if path.is_dir() and not (path / "config.json").is_file():
        raise FsaError(f"model {echo(spec)}: not a model folder (no config.json)")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts, so a port in use is one line."""
    addr = host.strip("[]")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what uvicorn does: TIME_WAIT is no conflict
        sock.bind((addr, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise FsaError(f"port {port} on {host} is in use (another server? choose one with --port)") from None
        if e.errno == errno.EACCES:
            raise FsaError(f"port {port} on {host}: permission denied (ports below 1024 need privileges)") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise FsaError(f"--host {host}: not an address of this machine") from None
        raise FsaError(f"--host {host} --port {port}: cannot bind ({e.strerror or e})") from None
    sock.set_inheritable(True)
    return sock


def build_config(args):
    from fsa_distill.serving.config import ServeConfig

    extra = {k: v for k, v in {"max_texts": args.max_texts, "max_text_chars": args.max_text_chars,
                               "max_body_bytes": args.max_body_bytes}.items() if v is not None}
    try:
        return ServeConfig(model=args.model, model_id=args.model_id, task=args.task, device=args.device,
                           fast=args.fast, compute_type=args.compute_type, keep_absent=args.keep_absent,
                           max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, **extra)
    except Exception as e:  # pydantic's ValidationError: name the first bad option
        errs = getattr(e, "errors", lambda: [])()
        if errs:
            err = errs[0]
            raise FsaError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
        raise


def run_serve(args) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise FsaError('serve needs FastAPI and uvicorn: pip install "fsa-distill[serve]"') from None
    if not 0 <= args.port <= 65535:
        raise FsaError(f"--port {args.port}: expected 0-65535")
    api_key = api_key_from_env(args.api_key_env, args.host)
    cfg = build_config(args)
    from fsa_distill.inference.fast import check_fast_settings

    check_fast_settings(cfg.fast, cfg.compute_type)  # a wrong setting or a missing extra: before binding
    check_model_folder(cfg.model)
    sock = bind(args.host, args.port)
    from fsa_distill.serving.app import create_app

    app = create_app(cfg, api_key=api_key)
    # uvicorn's own graceful shutdown: on SIGTERM/SIGINT it stops accepting, lets in-flight
    # requests finish (our batcher keeps running until the lifespan ends), then exits.
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info",
                                           timeout_graceful_shutdown=60, server_header=False))
    failed: list[str] = []

    def on_load_error(message: str) -> None:
        failed.append(message)
        server.should_exit = True

    app.state.fsa.on_load_error = on_load_error
    url_host = f"[{args.host.strip('[]')}]" if ":" in args.host else args.host
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)",
                                            url_host, sock.getsockname()[1])
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if failed:
        raise FsaError(failed[0])  # from_pretrained's one line, which names the model
    return 0
