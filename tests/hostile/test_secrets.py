"""Secrets in the wrong place: a key pasted into api_key_env, credentials in base_url. Refused in
one line that does not repeat them; nothing on disk or in the logs ever holds them."""

from __future__ import annotations

import logging
import secrets

import pytest
from helpers import assert_one_line_error, cli

from fsa_distill.teacher.config import redact_url

KEY = "sk-proj-" + secrets.token_hex(16)  # key-shaped, made at test time: no key-like literal is tracked


def _all_text(folder):
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()) if folder.exists() else ""


@pytest.mark.parametrize("override,needle", [
    (f"backend.api_key_env={KEY}", "backend.api_key_env: expected the NAME of an environment variable"),
    ("backend.api_key_env=AbCdEf0123456789aBcDeF0123456789xYz", "backend.api_key_env: expected the NAME"),
    (f"backend.base_url=http://user:{KEY}@127.0.0.1:9/v1", "backend.base_url: credentials in the URL"),
    (f"backend.base_url=http://:{KEY}@127.0.0.1:9/v1", "backend.base_url: credentials in the URL"),
    (f"backend.base_url=http://127.0.0.1:9/v1?api_key={KEY}", "backend.base_url: a secret in the URL's query"),
])
def test_a_secret_in_the_config_is_refused_and_never_written_or_logged(override, needle, tmp_path, capsys, caplog):
    out = tmp_path / "corpus"
    argv = ["generate", "backend.type=openai", override, f"output_dir={out}", "--no-progress"]
    rc, stdout, err = cli(capsys, *argv)
    assert_one_line_error(rc, err, needle)
    with caplog.at_level(logging.DEBUG):  # -v: debug logs and the traceback, still without the secret
        rc, stdout_v, err_v = cli(capsys, "-v", *argv)
    assert rc == 2
    secret = KEY if KEY in override else override.split("=", 1)[1]
    assert secret not in err + stdout + err_v + stdout_v + caplog.text
    assert secret[-12:] not in err + err_v + caplog.text
    assert secret[-12:] not in _all_text(out)


def test_a_variable_name_is_fine(tmp_path):
    from fsa_distill.config import load_config
    from fsa_distill.teacher.config import GenerateConfig

    cfg = load_config(GenerateConfig, None, ["backend.type=openai", "backend.api_key_env=my_teacher_key",
                                             "backend.base_url=https://api.example.com/v1?model=x"])
    assert cfg.backend.api_key_env == "my_teacher_key"


def test_redact_url_drops_userinfo_and_query():
    assert redact_url(f"http://u:{KEY}@host:8000/v1?key=1") == "http://host:8000/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
