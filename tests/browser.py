"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: requests on
fd 3, replies on fd 4, each JSON message ended by a NUL byte), so browser tests can read layout, scroll,
click and take clipped screenshots with the standard library alone (no websocket or driver package)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class Browser:
    """One Chromium process and one page of a given viewport; `evaluate` runs JavaScript in it."""

    def __init__(self, profile: Path, width: int, height: int) -> None:
        to_chrome_read, self._write = os.pipe()
        self._read, from_chrome_write = os.pipe()
        command = [
            BROWSER,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
        ]

        def pipes_at_3_and_4() -> None:
            """The child's fds 3 and 4 (os.dup2 makes them inheritable; Python's others close on exec),
            each first moved above 10 so one never overwrites the other."""
            read, write = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_read, from_chrome_write))
            os.dup2(read, 3)
            os.dup2(write, 4)

        self._process = subprocess.Popen(
            command,
            close_fds=False,
            preexec_fn=pipes_at_3_and_4,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_read)
        os.close(from_chrome_write)
        self._next_id, self._buffer, self._session = 0, b"", None
        self._events: list[str] = []  # the methods of the events met while waiting for replies
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.send("Page.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One request; waits for its reply (events in between are dropped) and returns its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if "method" in reply:
                self._events.append(reply["method"])
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str) -> None:
        """Load `url` and wait for its load event (its scripts have run by then, where scripts run)."""
        self._events.clear()
        self.send("Page.navigate", url=url)
        while "Page.loadEventFired" not in self._events:
            message = self._message()
            if "method" in message:
                self._events.append(message["method"])

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited), as JSON."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """A PNG of the element matching `selector` (the page's whole height when None), written to `path`."""
        box = self.evaluate(
            "(() => { const e = "
            + (f"document.querySelector({json.dumps(selector)})" if selector else "document.documentElement")
            + "; const r = e.getBoundingClientRect();"
            " return {x: r.left + scrollX, y: r.top + scrollY, width: Math.max(r.width, e.scrollWidth),"
            " height: Math.max(r.height, e.scrollHeight)}; })()"
        )
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip={**box, "scale": 1})[
            "data"
        ]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        self._process.wait(timeout=30)
        os.close(self._read)
        os.close(self._write)
