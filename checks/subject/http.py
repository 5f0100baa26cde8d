"""The target's FastAPI app, served in-process through Starlette's TestClient (ASGI, no sockets).

Redirects are never followed (a route declared as ``/users/`` answers ``POST /users`` with a
307, as a real server would). An exception the app raises becomes a 500 answer that carries
the exception, so the checker can say which line of the target failed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from .loader import describe_exception


class Apps:
    """Started clients, one per module holding an ``app``; stopped (lifespan end) on close."""

    def __init__(self, stage_dir: Path) -> None:
        self.stage_dir = stage_dir
        self.clients: dict[str, TestClient] = {}

    def start(self, module: Any, name: str) -> TestClient:
        if name not in self.clients:
            client = TestClient(module.app, follow_redirects=False)
            client.__enter__()  # runs the lifespan's start-up
            self.clients[name] = client
        return self.clients[name]

    def stop(self, name: str) -> None:
        client = self.clients.pop(name, None)
        if client is not None:
            client.__exit__(None, None, None)

    def request(self, client: TestClient, method: str, url: str, body: dict) -> dict:
        try:
            response = client.request(method, url, json=body.get("json"), content=body.get("content"), headers=body.get("headers"))
        except Exception as exc:  # the app raised: a real server would answer 500
            message, where = describe_exception(exc, self.stage_dir)
            return {"status_code": 500, "headers": {}, "text": "", "exception": {"message": message, "where": where}}
        return {"status_code": response.status_code, "headers": dict(response.headers), "text": response.text, "exception": None}


@cache  # once per process: a zygote forked from a warmed host has it already
def warm_up() -> None:
    """Serve one request to an app of the harness's own, so that what TestClient, FastAPI and
    Starlette import and prepare on first use (down to reading an endpoint's source, for error
    messages) happens once in the process copies are forked from, not again in every copy."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Echo(BaseModel):
        text: str

    app = FastAPI()

    @app.post("/")
    def root(body: Echo) -> Echo:  # a model in and out: FastAPI checks it for Pydantic v1 (an import)
        return body

    with TestClient(app) as client:
        client.post("/", json={"text": "warm"})
