"""Drive the demo page in a real headless Chromium through the DevTools protocol (`websockets`).

Debian's `chromium` package is the browser (Playwright's download is not reachable here); the
protocol is spoken directly: launch with --remote-debugging-port=0, read the port Chromium
writes to DevToolsActivePort, open the page's websocket, then type with Input.insertText, press
keys with Input.dispatchKeyEvent and read the DOM with Runtime.evaluate - what a user does.
firefox.py drives headless Firefox (WebDriver BiDi) behind the same interface; BROWSERS names both.

    python tests/serving/browser.py http://127.0.0.1:8000/ "The pasta was great." docs/img/serve-demo.png
    python tests/serving/browser.py --firefox http://127.0.0.1:8000/ "The pasta was great." /tmp/ff.png
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from firefox import Firefox, firefox_binary
from page import PageWaits


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser(PageWaits):
    """One headless Chromium with one page; every wait is bounded."""

    name = "chromium"

    def __init__(self, width: int = 1200, height: int = 720):
        self.size = (width, height)
        self.profile = tempfile.mkdtemp(prefix="fsa-chromium-")
        self.proc: subprocess.Popen | None = None
        self.ws = None
        self._id = 0

    async def __aenter__(self):
        import websockets

        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("no chromium on PATH (apt-get install chromium)")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
             "--disable-background-networking", "--disable-dev-shm-usage", f"--user-data-dir={self.profile}",
             f"--window-size={self.size[0]},{self.size[1]}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port within 60 s")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = await websockets.connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1],
                        deviceScaleFactor=1, mobile=False)
        return self

    async def __aexit__(self, *exc):
        if self.ws is not None:
            await self.ws.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        # Chromium's helper processes can still write into the profile for a moment after the
        # main one exits (a stray "Network Persistent State" file kept the folder): retry a while.
        deadline = time.monotonic() + 10
        while True:
            shutil.rmtree(self.profile, ignore_errors=True)
            if not Path(self.profile).exists() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)

    async def send(self, method: str, **params):
        self._id += 1
        my_id = self._id
        await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:  # events arrive in between; skip them
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expression: str):
        r = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    async def _navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def type(self, text: str) -> None:
        await self.send("Input.insertText", text=text)

    async def press(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", type=kind, key=key, code=code, modifiers=modifiers,
                            windowsVirtualKeyCode=key_code, nativeVirtualKeyCode=key_code,
                            **({"text": "\r"} if kind == "keyDown" and key == "Enter" else {}))

    async def screenshot(self, path: str | Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))


# name -> (driver class, binary lookup, how to get the binary): the tests run on each one found.
BROWSERS = {
    "chromium": (Browser, chromium_binary, "apt-get install chromium"),
    "firefox": (Firefox, firefox_binary, "apt-get install firefox-esr"),
}

MARKS = ("[...document.querySelectorAll('#sentence mark')].map(m => ({aspect: m.dataset.aspect, "
         "polarity: m.dataset.polarity, text: m.firstChild.textContent, color: getComputedStyle(m).color, "
         "background: getComputedStyle(m).backgroundColor}))")
ROWS = "[...document.querySelectorAll('#aspects tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))"


async def analyse_by_keyboard(browser: Browser | Firefox, base: str, sentence: str) -> dict:
    """Open the page, click into the box, type, Tab to the button, press Enter; read the result."""
    await browser.goto(base, ready="document.readyState === 'complete' && "
                                   "!document.getElementById('model').textContent.startsWith('loading')")
    await browser.js("document.getElementById('text').focus()")
    await browser.type(sentence)
    await browser.press("Tab", "Tab", 9)
    focused = await browser.js("document.activeElement.id")
    await browser.press("Enter", "Enter", 13)
    await browser.wait_for("['done', 'error'].includes(document.body.dataset.state)")
    return {"focused": focused, "state": await browser.js("document.body.dataset.state"),
            "marks": await browser.js(MARKS), "rows": await browser.js(ROWS),
            "status": await browser.js("document.getElementById('status').textContent"),
            "raw": await browser.js("document.getElementById('raw').textContent"),
            "model": await browser.js("document.getElementById('model').textContent")}


async def _main(base: str, sentence: str, out: str, driver=Browser) -> None:
    async with driver() as b:
        result = await analyse_by_keyboard(b, base, sentence)
        await b.screenshot(out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    args = sys.argv[1:]
    use_firefox = "--firefox" in args
    args = [a for a in args if a != "--firefox"]
    if len(args) != 3:
        raise SystemExit(__doc__)
    asyncio.run(_main(*args, driver=Firefox if use_firefox else Browser))
