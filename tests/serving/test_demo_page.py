"""The demo page in real headless browsers: Chromium (Debian's `chromium`, driven over the
DevTools protocol, browser.py) and Firefox (Debian's `firefox-esr`, driven over WebDriver BiDi,
firefox.py). Each test runs on each browser: type a sentence, Tab to the button, press Enter, read
the highlighted terms and the table from the DOM, check their colours' contrast, save a
screenshot. A browser whose binary is missing is skipped, saying which package to install."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from browser import BROWSERS, analyse_by_keyboard

pytest.importorskip("websockets")

PASTA = "The pasta was great but the waiter was rude."


def _luminance(css: str) -> float:
    r, g, b = [int(x) / 255 for x in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


@pytest.fixture(params=list(BROWSERS))
def browser(request):
    """The driver class of one browser (Browser() / Firefox(): an async context manager)."""
    driver, binary, install = BROWSERS[request.param]
    if binary() is None:
        pytest.skip(f"no {request.param} on PATH ({install}; .ci/run does)")
    assert driver.name == request.param
    return driver


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_type_press_enter_and_read_the_highlights(serve_app, browser, tmp_path):
    srv = serve_app()
    shot = tmp_path / "demo.png"
    if browser.name == "chromium":  # docs/img/serve-demo.png is Chromium's
        shot = Path(os.environ.get("FSA_DISTILL_DEMO_SCREENSHOT", shot))

    async def go():
        async with browser() as b:
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


def test_example_buttons_work_from_the_keyboard_and_absent_terms_are_not_marked(serve_app, browser):
    srv = serve_app()

    async def go():
        async with browser() as b:
            await b.goto(srv.base + "/", ready="document.readyState === 'complete'")
            await b.js("document.querySelectorAll('.example')[1].focus()")
            await b.press("Enter", "Enter", 13)
            await b.wait_for("document.body.dataset.state === 'done'")
            return await b.js("[...document.querySelectorAll('#sentence mark')].map(m => m.dataset.aspect)"), \
                await b.js("document.getElementById('text').value")

    marks, text = run(go())
    assert marks == ["battery life", "keyboard"]  # "wait" was generated but is not in the text
    assert text.startswith("The battery life")


def test_acsa_categories_are_labelled_chips_and_errors_are_shown(serve_app, browser):
    from serving_helpers import FakeAnalyzer

    srv = serve_app(analyzer=FakeAnalyzer(task="acsa"), max_text_chars=100)

    async def go():
        async with browser() as b:
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
def test_the_page_against_a_real_serve_command(tiny_dir, browser, tmp_path):
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
            async with browser() as b:
                return await analyse_by_keyboard(b, base + "/", PASTA)

        r = run(go())
    finally:
        stop(proc)
    assert r["state"] == "done" and r["raw"] == (api["generated"] or "(empty)")
    assert [m["aspect"] for m in r["marks"]] == [a["aspect"] for a in api["aspects"]]
    assert len(r["rows"]) == max(1, len(api["aspects"]))
