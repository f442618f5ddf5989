"""The guarded protocol's request count, on a real uvicorn server in this process.

The group commit waits for requests this count says are being handled (store/
group_commit.py), so it must return to zero however a request ends: answered, refused
before its body, or abandoned by its client mid-body.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from receiver.service import Service
from receiver.settings import Settings
from receiver.sources.http_protocol import guarded_protocol
from tests.support import AUTH_KEY, free_port, signed_headers

BODY = b'{"EventType":"FileUploadComplete","EventTime":"2024-05-06T09:49:33Z","VideoId":"v1"}'


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Service, int]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'vodhook.db'}",
        auth_keys=[AUTH_KEY],
        disable_handlers=["log"],
    )
    service = Service(settings)
    port = free_port()
    config = uvicorn.Config(
        service.asgi_app(),
        host="127.0.0.1",
        port=port,
        http=guarded_protocol(lambda: None, service.open_requests),
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield service, port
    finally:
        server.should_exit = True
        await task


async def until(predicate: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_count_returns_to_zero_after_answers_and_refusals(
    served: tuple[Service, int],
) -> None:
    service, port = served
    url = f"http://127.0.0.1:{port}/callback"
    async with httpx.AsyncClient() as client:
        ok = [client.post(url, content=BODY, headers=signed_headers(url)) for _ in range(20)]
        refused = [client.post(url, content=BODY) for _ in range(5)]  # unsigned: 401
        answers = await asyncio.gather(*ok, *refused)
        assert sorted(r.status_code for r in answers) == [200] * 20 + [401] * 5
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    await until(lambda: service.open_requests.count == 0)


async def test_count_follows_a_client_that_leaves_mid_body(served: tuple[Service, int]) -> None:
    service, port = served
    url = f"http://127.0.0.1:{port}/callback"
    head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(url).items())
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    await loop.sock_sendall(
        sock,
        f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
        f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY[:10],
    )
    await until(lambda: service.open_requests.count == 1)  # headers in, body pending
    sock.close()
    await until(lambda: service.open_requests.count == 0)
