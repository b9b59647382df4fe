"""report.html in headless Chromium: images load, no console errors, no network, markup is text.

Drives a real Chromium over the DevTools protocol (websocket-client) and saves the screenshot
used in the docs (docs/report-screenshot.png).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qi_cli import run_qi_load
from synthetic_run import SyntheticRun, write_synthetic_run

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"
EVIL = '<script>alert("pwned")</script>'


class Cdp:
    """A minimal DevTools client: one page session, commands and the events seen so far."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))

    def drain(self, seconds: float) -> None:
        import websocket

        self.ws.settimeout(0.2)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                continue
        self.ws.settimeout(30)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Cdp]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-extensions", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        ws_url = ""
        while not ws_url and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode}")
            if "DevTools listening on " in line:
                ws_url = line.split("DevTools listening on ", 1)[1].strip()
        assert ws_url, "chromium never announced its DevTools endpoint"
        cdp = Cdp(ws_url)
        target = cdp.send("Target.createTarget", url="about:blank")["targetId"]
        cdp.session = cdp.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        yield cdp
        cdp.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SyntheticRun(seed=7, leak_mb_per_min=3.0, error_rate=0.01,
                        failure_text=f"HTTPError 500: {EVIL}")  # fmt: skip
    run_dir = write_synthetic_run(tmp_path_factory.mktemp("html") / "20261127-230000-ladder", spec)
    done = run_qi_load("report", str(run_dir), timeout=120)
    assert done.returncode == 0, done.stderr
    return run_dir / "report.html"


def test_report_in_chromium(chromium: Cdp, report: Path) -> None:
    cdp = chromium
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.send(f"{domain}.enable")
    cdp.send("Emulation.setDeviceMetricsOverride", width=1280, height=2000,
             deviceScaleFactor=1, mobile=False)  # fmt: skip
    url = report.as_uri()
    cdp.send("Page.navigate", url=url)
    cdp.wait_for("Page.loadEventFired")
    cdp.drain(1.0)

    images = cdp.send("Runtime.evaluate", returnByValue=True, expression="""
        Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])
    """)["result"]["value"]  # fmt: skip
    assert len(images) == 5
    assert all(complete and width > 0 for complete, width, _ in images), images

    text = cdp.send("Runtime.evaluate", returnByValue=True,
                    expression="document.body.innerText")["result"]["value"]  # fmt: skip
    assert EVIL in text  # shown as text ...
    scripts = cdp.send("Runtime.evaluate", returnByValue=True,
                       expression="document.scripts.length")["result"]["value"]  # fmt: skip
    assert scripts == 0  # ... never parsed as an element

    errors = [
        e for e in cdp.events
        if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]  # fmt: skip
    assert errors == []
    requests = [
        e["params"]["request"]["url"]
        for e in cdp.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requests and all(r == url or r.startswith("data:") for r in requests), requests

    shot = cdp.send("Page.captureScreenshot", format="png")["data"]
    SCREENSHOT.write_bytes(base64.b64decode(shot))
    assert SCREENSHOT.stat().st_size > 50_000
