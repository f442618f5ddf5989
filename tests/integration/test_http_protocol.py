"""The guarded protocol on a real uvicorn server in this process, both ways in.

"direct": callbacks answered by the protocol itself (the service's configuration);
"asgi": the same protocol without the endpoint, so every callback goes through ASGI.
The HTTP semantics the direct way re-implements (keep-alive, pipelining, 100-continue,
flow control, connection: close) must match what uvicorn's ASGI cycle does.

The request count matters too: the group commit waits for requests it says are being
handled (store/group_commit.py), so it must return to zero however a request ends:
answered, refused before its body, or abandoned by its client mid-body.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn

from receiver.service import Service
from receiver.settings import Settings
from receiver.sources.http_protocol import guarded_protocol
from tests.support import AUTH_KEY, free_port, signed_headers

BODY = b'{"EventType":"FileUploadComplete","EventTime":"2024-05-06T09:49:33Z","VideoId":"v1"}'


MAX_BODY = 256 * 1024


@pytest.fixture(params=["direct", "asgi"])
async def served(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Service, int]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'vodhook.db'}",
        auth_keys=[AUTH_KEY],
        disable_handlers=["log"],
        max_body_bytes=MAX_BODY,
    )
    service = Service(settings)
    port = free_port()
    endpoint = service.asgi_app()
    direct = endpoint if request.param == "direct" else None
    config = uvicorn.Config(
        endpoint,
        host="127.0.0.1",
        port=port,
        http=guarded_protocol(lambda: None, service.open_requests, direct),
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


# -- HTTP semantics, on raw sockets -------------------------------------------------------------
def event_body(video_id: str, pad: int = 0) -> bytes:
    """A FileUploadComplete body; `pad` extra bytes in a field the models ignore."""
    return orjson.dumps(
        {
            "EventType": "FileUploadComplete",
            "EventTime": "2024-05-06T09:49:33Z",
            "VideoId": video_id,
            "Padding": "x" * pad,
        }
    )


def request_bytes(port: int, body: bytes, extra: str = "", url_scheme: str = "http") -> bytes:
    signed = signed_headers(f"{url_scheme}://127.0.0.1:{port}/callback")
    head = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    return (
        f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def test_pipelined_requests_are_answered_in_order(served: tuple[Service, int]) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(port, event_body("p1")) + request_bytes(port, event_body("p2")))
    first = await read_response(reader)
    second = await read_response(reader)
    writer.close()
    assert first[0] == second[0] == 200
    assert orjson.loads(first[2])["id"] < orjson.loads(second[2])["id"]


async def test_keep_alive_serves_several_requests_on_one_connection(
    served: tuple[Service, int],
) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses = []
    for i in range(3):
        writer.write(request_bytes(port, event_body(f"k{i}")))
        status, headers, _ = await read_response(reader)
        statuses.append(status)
        assert "close" not in headers.get("connection", "")
    writer.close()
    assert statuses == [200, 200, 200]


async def test_connection_close_is_honoured(served: tuple[Service, int]) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(port, event_body("c1"), extra="Connection: close\r\n"))
    status, headers, _ = await read_response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert await reader.read() == b""  # the server closed its end
    writer.close()


async def test_expect_100_continue_gets_100_then_the_answer(
    served: tuple[Service, int],
) -> None:
    _, port = served
    body = event_body("e1")
    whole = request_bytes(port, body, extra="Expect: 100-continue\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(whole[: -len(body)])  # headers only, as curl does
    assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert await reader.readline() == b"\r\n"
    writer.write(body)
    status, _, _ = await read_response(reader)
    writer.close()
    assert status == 200


async def test_body_above_the_flow_control_mark_is_stored(served: tuple[Service, int]) -> None:
    """uvicorn pauses reading above 64 KiB until the app asks for more body."""
    service, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(port, event_body("big", pad=150 * 1024)))
    status, _, body = await read_response(reader)
    writer.close()
    assert status == 200
    assert service.store.get(orjson.loads(body)["id"]) is not None


async def test_chunked_body_over_the_limit_is_413(served: tuple[Service, int]) -> None:
    service, port = served
    signed = signed_headers(f"http://127.0.0.1:{port}/callback")
    head = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    chunk = b"x" * 65536
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    for _ in range(MAX_BODY // len(chunk) + 1):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    writer.write(b"0\r\n\r\n")
    status, _, body = await read_response(reader)
    writer.close()
    assert status == 413 and orjson.loads(body)["error"] == "too_large"
    assert sum(service.store.counts().values()) == 0


async def test_proxy_scheme_applies_to_the_signed_url(served: tuple[Service, int]) -> None:
    """Behind a TLS proxy VOD signs https://...; uvicorn trusts X-Forwarded-Proto from
    127.0.0.1 by default, so the received URL is https too (the direct way hands such a
    request to ASGI, where uvicorn's middleware applies it)."""
    _, port = served
    body = event_body("tls")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(port, body, "X-Forwarded-Proto: https\r\n", url_scheme="https"))
    proxied = await read_response(reader)
    writer.write(request_bytes(port, body, url_scheme="https"))  # no header: http, 401
    direct = await read_response(reader)
    writer.close()
    assert proxied[0] == 200
    assert direct[0] == 401 and orjson.loads(direct[2])["error"] == "bad_signature"
