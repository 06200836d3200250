"""What both browser drivers (browser.Browser for Chromium, firefox.Firefox) do the same way on top
of their own protocol: navigate without reading the old document, and wait for a condition."""

from __future__ import annotations

import asyncio
import time


class PageWaits:
    """Needs `js(expression)` and `_navigate(url)` from the driver."""

    async def goto(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        # Mark the old document, so that `ready` is never read from it while the new one loads.
        await self.js("window.__fsaOld = true")
        await self._navigate(url)
        await self.wait_for(f"!window.__fsaOld && ({ready})")

    async def wait_for(self, condition: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if await self.js(f"Boolean({condition})"):
                    return
            except RuntimeError:  # the document was being replaced mid-evaluation: ask again
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"page: {condition} not true within {timeout} s")
            await asyncio.sleep(0.05)
