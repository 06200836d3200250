"""`fsa-distill serve`: a trained student over HTTP (FastAPI + uvicorn), see docs/serve.md."""

from __future__ import annotations

import ipaddress
import os
import re

from fsa_distill.errors import FsaError
from fsa_distill.inference.fast import add_fast_flags

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    if not ENV_NAME.match(name):
        raise FsaError("--api-key-env: expected the NAME of an environment variable (the token itself "
                       "never goes on the command line)")
    token = os.environ.get(name, "").strip()
    if not token:
        raise FsaError(f"--api-key-env {name}: the environment variable {name} is not set or empty")
    return token


def build_config(args):
    from fsa_distill.serving.app import ServeConfig

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
    server.run()
    if failed:
        raise FsaError(failed[0])  # from_pretrained's one line, which names the model
    return 0
