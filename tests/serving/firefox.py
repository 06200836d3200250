"""Drive the demo page in a real headless Firefox through WebDriver BiDi (`websockets`).

Debian's `firefox-esr` package is the browser (geckodriver and Playwright's downloads are not
reachable here). Firefox speaks WebDriver BiDi itself, so no driver binary is needed: launch it
with --remote-debugging-port=0 on a fresh profile, read the port it chose (it writes
WebDriverBiDiServer.json into the profile and "WebDriver BiDi listening on ws://..." on stderr),
connect to ws://127.0.0.1:PORT/session, `session.new`, then type and press keys with
`input.performActions` (real key events, one keyDown/keyUp per character) and read the DOM with
`script.evaluate` - what a user does. The class has the interface of browser.Browser (Chromium),
so the same tests run on both.

    python tests/serving/browser.py --firefox http://127.0.0.1:8000/ "The pasta was great." /tmp/ff.png
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from page import PageWaits


def firefox_binary() -> str | None:
    for name in ("firefox-esr", "firefox"):
        path = shutil.which(name)
        if path:
            return path
    return None


# user.js of the fresh profile: nothing at startup but the page under test (the remote agent adds
# its own "recommended" automation prefs on top; these keep the background services quiet, as
# nothing outside loopback is reachable anyway).
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.auto": False,
    "app.update.checkInstallTime": False,
    "extensions.update.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "app.normandy.enabled": False,
}

# WebDriver's key values (W3C WebDriver, "keyboard actions") for the keys the tests press.
KEYS = {"Tab": "\ue004", "Enter": "\ue007", "Backspace": "\ue003", "Escape": "\ue00c", "Space": " ",
        "ArrowLeft": "\ue012", "ArrowUp": "\ue013", "ArrowRight": "\ue014", "ArrowDown": "\ue015",
        "Home": "\ue011", "End": "\ue010", "Delete": "\ue017"}
# CDP's modifier bits (as browser.Browser.press takes them) -> WebDriver's modifier keys.
MODIFIERS = ((1, "\ue00a"), (2, "\ue009"), (4, "\ue03d"), (8, "\ue008"))  # Alt, Control, Meta, Shift

LISTENING = re.compile(r"WebDriver BiDi listening on ws://[^:\s]+:(\d+)")


def plain(v: dict):
    """A BiDi RemoteValue (script.RemoteValue) as JSON-like Python data; None for what has none
    (undefined, DOM nodes, functions, ...)."""
    kind, value = v.get("type"), v.get("value")
    if kind == "number":
        return {"NaN": float("nan"), "-0": -0.0, "Infinity": float("inf"),
                "-Infinity": float("-inf")}.get(value, value) if isinstance(value, str) else value
    if kind in ("string", "boolean", "date"):
        return value
    if kind == "bigint":
        return int(value)
    if kind in ("array", "set"):
        return [plain(x) for x in value or []]
    if kind in ("object", "map"):
        return {(k if isinstance(k, str) else str(plain(k))): plain(x) for k, x in value or []}
    return None


class Firefox(PageWaits):
    """One headless Firefox with one browsing context; every wait is bounded."""

    name = "firefox"

    def __init__(self, width: int = 1200, height: int = 720):
        self.size = (width, height)
        self.tmp = tempfile.mkdtemp(prefix="fsa-firefox-")
        self.profile = Path(self.tmp) / "profile"
        self.log = Path(self.tmp) / "firefox.log"
        self.proc: subprocess.Popen | None = None
        self.ws = None
        self.context: str | None = None
        self._id = 0

    async def __aenter__(self):
        try:
            await self._start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start(self) -> None:
        import websockets

        binary = firefox_binary()
        if binary is None:
            raise RuntimeError("no firefox on PATH (apt-get install firefox-esr)")
        self.profile.mkdir()
        (self.profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items()))
        env = dict(os.environ, MOZ_HEADLESS="1", MOZ_CRASHREPORTER_DISABLE="1")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "--headless", "--no-remote", "--profile", str(self.profile),
                 "--remote-debugging-port=0", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        port = await self._port(timeout=60)
        self.ws = await asyncio.wait_for(
            websockets.connect(f"ws://127.0.0.1:{port}/session", max_size=64 * 1024 * 1024), 30)
        await self.send("session.new", capabilities={})
        # The tab Firefox opens at startup sits in a window that did not get focus in headless mode
        # (document.hasFocus() still false after 15 s, even after browsingContext.activate), and in
        # an unfocused document keys reach the page but do nothing by default: Enter or Space on a
        # focused button does not click it. A tab created in the foreground over BiDi has focus at
        # once, so work in one of those (and check it has).
        first = [c["context"] for c in (await self.send("browsingContext.getTree", maxDepth=0))["contexts"]]
        self.context = (await self.send("browsingContext.create", type="tab", background=False))["context"]
        for context in first:
            await self.send("browsingContext.close", context=context)
        await self.send("browsingContext.setViewport", context=self.context,
                        viewport={"width": self.size[0], "height": self.size[1]}, devicePixelRatio=1)
        try:
            await self.wait_for("document.hasFocus() && document.visibilityState === 'visible'", timeout=10)
        except TimeoutError:
            raise RuntimeError("firefox's page did not get focus: keys would not activate buttons") from None

    async def _port(self, timeout: float) -> int:
        """The port Firefox chose: from the profile's WebDriverBiDiServer.json, else its log line."""
        info = self.profile / "WebDriverBiDiServer.json"
        deadline = time.monotonic() + timeout
        while True:
            try:
                return int(json.loads(info.read_text())["ws_port"])
            except (OSError, ValueError, KeyError):
                pass
            found = LISTENING.search(self.log.read_text(errors="replace")) if self.log.exists() else None
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"firefox exited ({self.proc.returncode}) before opening WebDriver BiDi: "
                                   + self.log.read_text(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"firefox did not open its WebDriver BiDi port within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc):
        from websockets.exceptions import WebSocketException

        try:
            if self.ws is not None:
                # A polite end first (the browser may already be gone: then it cannot answer);
                # the process is stopped by its pid below whatever happens.
                with contextlib.suppress(RuntimeError, TimeoutError, OSError, WebSocketException):
                    await asyncio.wait_for(self.send("session.end"), 10)
                with contextlib.suppress(TimeoutError, OSError, WebSocketException):
                    await asyncio.wait_for(self.ws.close(), 10)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=20)
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def send(self, method: str, **params):
        self._id += 1
        my_id = self._id
        await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:  # events (none are subscribed to) would arrive in between; skip them
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == my_id:
                if msg.get("type") == "error":
                    raise RuntimeError(f"{method}: {msg.get('error')}: {msg.get('message')}")
                return msg.get("result", {})

    async def js(self, expression: str):
        """Evaluate a script (statements allowed, as with CDP's Runtime.evaluate); its value as
        plain Python data (what CDP's returnByValue gives), awaited if it is a promise."""
        r = await self.send("script.evaluate", expression=expression, target={"context": self.context},
                            awaitPromise=True, resultOwnership="none")
        if r.get("type") == "exception":
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return plain(r["result"])

    async def _navigate(self, url: str) -> None:
        await self.send("browsingContext.navigate", context=self.context, url=url, wait="complete")

    async def _keys(self, actions: list[dict]) -> None:
        await self.send("input.performActions", context=self.context,
                        actions=[{"type": "key", "id": "keyboard", "actions": actions}])
        await self.send("input.releaseActions", context=self.context)

    async def type(self, text: str) -> None:
        """One real keyDown/keyUp per character (Chromium's driver inserts the text at once)."""
        await self._keys([{"type": kind, "value": ch} for ch in text for kind in ("keyDown", "keyUp")])

    async def press(self, key: str, code: str = "", key_code: int = 0, modifiers: int = 0) -> None:
        """browser.Browser.press's signature; WebDriver derives code and keyCode from the key."""
        value = KEYS.get(key, key)
        if len(value) != 1:
            raise ValueError(f"no WebDriver key value for {key!r}")
        mods = [m for bit, m in MODIFIERS if modifiers & bit]
        await self._keys([{"type": "keyDown", "value": m} for m in mods]
                         + [{"type": "keyDown", "value": value}, {"type": "keyUp", "value": value}]
                         + [{"type": "keyUp", "value": m} for m in reversed(mods)])

    async def screenshot(self, path: str | Path) -> None:
        shot = await self.send("browsingContext.captureScreenshot", context=self.context)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
