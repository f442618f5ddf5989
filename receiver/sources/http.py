"""The HTTP callback source: verify, read, type, store, acknowledge. Nothing else.

POST {callback_path} is served by a plain ASGI callable instead of a Starlette route:
measured, Request/Route machinery cost about a quarter of intake throughput (see bench/).
Everything else (/healthz, /readyz, /metrics) is an ordinary Starlette app behind it.
Handler work never happens here; VOD waits at most 5 s and gives up after 3 attempts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from receiver.metrics import Metrics
from receiver.sources.delivery import to_delivery
from receiver.store import GroupCommit, StoreUnavailable
from receiver.verify import SignedRequest, VerificationError, Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_OK_DUPLICATE = b'{"status":"duplicate"}'


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def received_url(scope: Scope) -> str:
    """The URL as this server saw it; right only when no proxy rewrote scheme/host/path."""
    host = ""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}"
    url = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope['path']}"
    query = scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


class CallbackEndpoint:
    """ASGI app: POST to `path` is a VOD callback; anything else goes to `fallback`."""

    def __init__(
        self,
        path: str,
        verifier: Verifier,
        intake: GroupCommit,
        metrics: Metrics,
        max_body: int,
        fallback: ASGIApp,
    ) -> None:
        self.path = path
        self.verifier = verifier
        self.intake = intake
        self.metrics = metrics
        self.max_body = max_body
        self.fallback = fallback
        self._counts = metrics.deliveries["http"]
        self._needs_url = verifier.needs_request_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.fallback(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["method"] != "POST":
            await self._reply(
                send,
                405,
                b'{"error":"method_not_allowed","detail":"use POST"}',
                [(b"allow", b"POST")],
            )
            return
        timestamps: list[str] = []
        signatures: list[str] = []
        declared_length = -1
        for name, value in scope["headers"]:
            if name == b"x-vod-timestamp":
                timestamps.append(value.decode("latin-1"))
            elif name == b"x-vod-signature":
                signatures.append(value.decode("latin-1"))
            elif name == b"content-length":
                declared_length = int(value) if value.isdigit() else -1
        if self.verifier.enabled:
            try:
                self.verifier.verify(
                    SignedRequest(
                        received_url(scope) if self._needs_url else "",
                        tuple(timestamps),
                        tuple(signatures),
                    )
                )
            except VerificationError as exc:
                self.metrics.rejected.labels("http", exc.reason).inc()
                await self._error(send, 401, exc.reason, exc.detail)
                return
        if declared_length > self.max_body:
            await self._too_large(send)
            return
        # The time a body may take is limited by the protocol (http_protocol.py): a client
        # that drips it gets 408 from there, and this read ends with ClientGone.
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            await self._too_large(send)
            return
        except ClientGone:
            return
        delivery = to_delivery(body, "http", time.time())
        try:
            stored = await self.intake.submit(delivery)
        except StoreUnavailable as exc:
            self.metrics.rejected.labels("http", "store_unavailable").inc()
            await self._error(send, 503, "store_unavailable", f"event not stored: {exc}")
            return
        if delivery.problem is not None:
            # Kept in the dead-letter store; 400 tells the sender the body itself is wrong.
            self.metrics.rejected.labels("http", "invalid_body").inc()
            await self._reply(
                send,
                400,
                orjson.dumps(
                    {
                        "error": "invalid_body",
                        "detail": delivery.problem,
                        "dead_letter_id": stored.event_id,
                    }
                ),
            )
            return
        counts = self._counts
        counts.received += 1
        if stored.duplicate:
            counts.duplicates += 1
            await self._reply(send, 200, _OK_DUPLICATE)
        else:
            await self._reply(send, 200, b'{"status":"stored","id":%d}' % stored.event_id)
        counts.acked(time.perf_counter() - started)

    async def _too_large(self, send: Send) -> None:
        self.metrics.rejected.labels("http", "too_large").inc()
        await self._error(send, 413, "too_large", f"body exceeds {self.max_body} bytes")

    async def _error(self, send: Send, status: int, reason: str, detail: str) -> None:
        await self._reply(send, status, orjson.dumps({"error": reason, "detail": detail}))

    @staticmethod
    async def _reply(
        send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
