"""The request limits in front of every route: a slow answer becomes 504, requests beyond
the concurrency limit get 503 at once, both as problem documents."""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.web.limits import LimitsMiddleware, RequestLimits


def _app(limits: RequestLimits, started: threading.Event | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        if started is not None:
            started.set()
        await asyncio.sleep(1.0)
        return {"status": "done"}

    @app.get("/fast")
    async def fast() -> dict[str, str]:
        return {"status": "done"}

    app.add_middleware(LimitsMiddleware, limits=limits)
    return app


def test_a_slow_answer_is_a_504_problem() -> None:
    with TestClient(_app(RequestLimits(timeout_seconds=0.1))) as client:
        response = client.get("/slow")
        assert response.status_code == 504
        assert response.headers["content-type"] == "application/problem+json"
        assert "0.1 s" in response.json()["detail"]
        assert client.get("/fast").status_code == 200


def test_requests_beyond_the_concurrency_limit_get_503_at_once() -> None:
    started = threading.Event()
    with TestClient(_app(RequestLimits(max_concurrency=1), started)) as client:
        first: list[int] = []
        thread = threading.Thread(target=lambda: first.append(client.get("/slow").status_code))
        thread.start()
        assert started.wait(5)
        busy = client.get("/fast")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        thread.join()
        assert first == [200]
        assert client.get("/fast").status_code == 200
