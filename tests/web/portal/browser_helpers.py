"""The portal served for real: the app under uvicorn on 127.0.0.1, a worker running the
offline runner (the embedded defaults' runner), mail to the SMTP sink; and Debian's
Chromium driven by Playwright, with axe-core from npm checking each main page."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from control_plane.accounts.settings import AccountsSettings
from control_plane.queue.worker import Worker
from control_plane.runners.factory import make_runner
from tests.web.web_helpers import SmtpSink, World, make_world

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def missing_tools() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing (Debian package `chromium`; scripts/system-packages.sh)"
    if not AXE.is_file():
        return f"{AXE.relative_to(ROOT)} is missing (run `npm ci` at the project root)"
    return None


@dataclass
class Live:
    """The served portal and the world behind it."""

    url: str
    world: World


@contextmanager
def serve_portal(tmp: Path, sink: SmtpSink) -> Iterator[Live]:
    """The app on a free loopback port with one worker thread; stopped on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    world = make_world(tmp, sink, accounts=AccountsSettings(public_url=url))
    app = world.client.app
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serving = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    settings = world.context.tenants.settings
    stop = threading.Event()
    worker = Worker(world.database, settings, make_runner(settings), name="portal-tests")
    working = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    serving.start()
    working.start()
    try:
        while not server.started:
            serving.join(0.05)
            if not serving.is_alive():
                raise RuntimeError("the portal's server did not start")
        yield Live(url, world)
    finally:
        stop.set()
        server.should_exit = True
        serving.join(10)
        working.join(30)
        listener.close()
        world.database.dispose()


def check_accessibility(page: Any, name: str) -> None:
    """axe-core over the page as shown; any WCAG 2.1 A/AA violation fails the test."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(json.dumps(n["target"]) for n in v["nodes"][:3])
        for v in results["violations"]
    ]
    assert not violations, f"{name}: accessibility violations:\n" + "\n".join(violations)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
