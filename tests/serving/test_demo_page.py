"""The demo page in a real headless Chromium (Debian's package, driven over the DevTools
protocol): type a sentence, Tab to the button, press Enter, read the highlighted terms and the
table from the DOM, check their colours' contrast, save a screenshot."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from browser import Browser, analyse_by_keyboard, chromium_binary

pytest.importorskip("websockets")
pytestmark = pytest.mark.skipif(chromium_binary() is None, reason="no chromium (apt-get install chromium; .ci/run does)")

PASTA = "The pasta was great but the waiter was rude."


def _luminance(css: str) -> float:
    r, g, b = [int(x) / 255 for x in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_type_press_enter_and_read_the_highlights(serve_app, tmp_path):
    srv = serve_app()
    shot = Path(os.environ.get("FSA_DISTILL_DEMO_SCREENSHOT", tmp_path / "demo.png"))

    async def go():
        async with Browser() as b:
            result = await analyse_by_keyboard(b, srv.base + "/", PASTA)
            await b.screenshot(shot)
            return result

    r = run(go())
    assert r["focused"] == "analyse"  # Tab from the text box lands on the button
    assert r["state"] == "done", r["status"]
    assert [(m["aspect"], m["polarity"], m["text"]) for m in r["marks"]] == [
        ("pasta", "positive", "pasta"), ("waiter", "negative", "waiter")]  # the repeat collapsed
    assert r["rows"] == [["pasta", "positive", "4–9"], ["waiter", "negative", "28–34"]]
    pos, neg = r["marks"]
    assert pos["color"] != neg["color"] and pos["background"] != neg["background"]
    for m in r["marks"]:  # WCAG AA for normal text
        assert contrast(m["color"], m["background"]) >= 4.5, m
    assert "waiter | negative ; waiter | negative" in r["raw"] and "fake" in r["model"]
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_example_buttons_work_from_the_keyboard_and_absent_terms_are_not_marked(serve_app):
    srv = serve_app()

    async def go():
        async with Browser() as b:
            await b.goto(srv.base + "/", ready="document.readyState === 'complete'")
            await b.js("document.querySelectorAll('.example')[1].focus()")
            await b.press("Enter", "Enter", 13)
            await b.wait_for("document.body.dataset.state === 'done'")
            return await b.js("[...document.querySelectorAll('#sentence mark')].map(m => m.dataset.aspect)"), \
                await b.js("document.getElementById('text').value")

    marks, text = run(go())
    assert marks == ["battery life", "keyboard"]  # "wait" was generated but is not in the text
    assert text.startswith("The battery life")


def test_acsa_categories_are_labelled_chips_and_errors_are_shown(serve_app):
    from serving_helpers import FakeAnalyzer

    srv = serve_app(analyzer=FakeAnalyzer(task="acsa"), max_text_chars=100)

    async def go():
        async with Browser() as b:
            await b.goto(srv.base + "/?text=" + "Nice%20food%2C%20rude%20staff.",
                         ready="document.body.dataset.state === 'done'")
            chips = await b.js("[...document.querySelectorAll('#sentence .chip')].map(c => c.textContent)")
            header = await b.js("document.getElementById('aspect-col').textContent")
            await b.goto(srv.base + "/?text=" + "x" * 101, ready="document.body.dataset.state === 'error'")
            return chips, header, await b.js("document.getElementById('status').textContent")

    chips, header, error = run(go())
    assert chips == ["food quality: positive", "service general: negative"] and header == "Category"
    assert "text: 101 characters" in error


@pytest.mark.slow
def test_the_page_against_a_real_serve_command(tiny_dir, tmp_path):
    """`fsa-distill serve` with the tiny model: the page shows what the API answers."""
    import httpx
    from serving_helpers import free_port, start_serve, stop, wait_healthy

    port = free_port()
    proc = start_serve(["-m", str(tiny_dir), "--port", str(port)], log=tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc=proc)
        api = httpx.post(base + "/v1/predict", json={"text": PASTA}, timeout=60).json()["results"][0]

        async def go():
            async with Browser() as b:
                return await analyse_by_keyboard(b, base + "/", PASTA)

        r = run(go())
    finally:
        stop(proc)
    assert r["state"] == "done" and r["raw"] == (api["generated"] or "(empty)")
    assert [m["aspect"] for m in r["marks"]] == [a["aspect"] for a in api["aspects"]]
    assert len(r["rows"]) == max(1, len(api["aspects"]))
