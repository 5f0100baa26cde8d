"""Talking to a target's FastAPI app in-process, without letting a stuck request hang the run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

REQUEST_LIMIT = 15.0
SHUTDOWN_GRACE = 5.0


class GuardedClient:
    """A TestClient whose requests run in a helper thread: a request that never finishes
    (an endless loop in the target) fails the check instead of blocking the whole run."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def request(self, method: str, url: str, **kwargs) -> httpx2.Response:
        outcome: dict = {}

        def send() -> None:
            try:
                outcome["response"] = self._client.request(method, url, **kwargs)
            except BaseException as exc:  # handed to the check's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=send, daemon=True)
        worker.start()
        worker.join(REQUEST_LIMIT)
        if worker.is_alive():
            pytest.fail(f"{method} {url} took longer than {REQUEST_LIMIT:g} s and was abandoned", pytrace=False)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]

    def get(self, url: str, **kwargs) -> httpx2.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx2.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs) -> httpx2.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs) -> httpx2.Response:
        return self.request("DELETE", url, **kwargs)


@contextmanager
def app_client(app: FastAPI, *, raise_server_exceptions: bool = True) -> Iterator[GuardedClient]:
    """A started client (lifespan included). Server errors raise in the check, so the reason
    names the target's line. On the way out, a request still running is abandoned."""
    client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
    client.__enter__()
    try:
        yield GuardedClient(client)
    finally:
        closer = threading.Thread(target=_close, args=(client,), daemon=True)
        closer.start()
        closer.join(SHUTDOWN_GRACE)


def _close(client: TestClient) -> None:
    try:
        client.__exit__(None, None, None)
    except Exception:  # a failing shutdown is the target's problem, reported by its checks
        pass
