"""The HTTP callback source: verify, read, type, store, acknowledge. Nothing else.

POST {callback_path} is answered by CallbackEndpoint in one of two ways with the same
decisions (check, store, answer):
- from the HTTP protocol itself, without an ASGI task (sources/http_protocol.py): the
  ASGI request/response machinery cost about 11 µs of a request's ~55 (bench/);
- as a plain ASGI callable, when the protocol leaves a request to ASGI (a proxy's
  X-Forwarded-Proto, which uvicorn's middleware must apply first).
Everything else (/healthz, /readyz, /metrics) is an ordinary Starlette app behind it.
Handler work never happens here; VOD waits at most 5 s and gives up after 3 attempts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from receiver.logs import SCRUBBER, get_logger
from receiver.metrics import Metrics
from receiver.sources.delivery import to_delivery
from receiver.store import Delivery, GroupCommit, Stored, StoreUnavailable
from receiver.verify import SignedRequest, VerificationError, Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_OK_DUPLICATE = b'{"status":"duplicate"}'
_INTERNAL_ERROR = b'{"error":"internal_error","detail":"see the server log"}'

# status, JSON body, extra headers
Reply = tuple[int, bytes, list[tuple[bytes, bytes]] | None]


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
    """POST to `path` is a VOD callback; anything else goes to `fallback` (ASGI)."""

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
        self.log = get_logger(component="http")

    # -- the decisions, shared by both ways in -------------------------------------------------
    def takes_directly(self, scope: Scope) -> bool:
        """Can the protocol answer this POST without ASGI? Not when the signature covers
        the received URL and a proxy header may change its scheme: uvicorn's proxy-headers
        middleware decides that, and it runs only on the ASGI path."""
        if not self._needs_url:
            return True
        return all(name != b"x-forwarded-proto" for name, _ in scope["headers"])

    def check(self, scope: Scope) -> Reply | None:
        """What the headers alone decide (signature, declared size); None: read the body."""
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
                return _error(401, exc.reason, exc.detail)
        if declared_length > self.max_body:
            return self.too_large()
        return None

    def too_large(self) -> Reply:
        self.metrics.rejected.labels("http", "too_large").inc()
        return _error(413, "too_large", f"body exceeds {self.max_body} bytes")

    def store(
        self, body: bytes, loop: asyncio.AbstractEventLoop
    ) -> tuple[Delivery, asyncio.Future[Stored]]:
        """Type the body and hand it to the group commit; the future is its commit."""
        delivery = to_delivery(body, "http", time.time())
        return delivery, self.intake.submit_nowait(delivery, loop)

    def answer(self, delivery: Delivery, commit: asyncio.Future[Stored], started: float) -> Reply:
        """The reply once the commit is done, counted in the metrics."""
        if commit.cancelled() or (error := commit.exception()) is not None:
            if commit.cancelled() or isinstance(error, StoreUnavailable):
                self.metrics.rejected.labels("http", "store_unavailable").inc()
                detail = "cancelled" if commit.cancelled() else str(error)
                return _error(503, "store_unavailable", f"event not stored: {detail}")
            self.log.error("http_store_error", error=SCRUBBER.scrub(repr(error)))
            return 500, _INTERNAL_ERROR, None
        stored = commit.result()
        self.intake.notify_stored(delivery, stored)
        if delivery.problem is not None:
            # Kept in the dead-letter store; 400 tells the sender the body itself is wrong.
            self.metrics.rejected.labels("http", "invalid_body").inc()
            body = orjson.dumps(
                {
                    "error": "invalid_body",
                    "detail": delivery.problem,
                    "dead_letter_id": stored.event_id,
                }
            )
            return 400, body, None
        counts = self._counts
        counts.received += 1
        counts.acked(time.perf_counter() - started)
        if stored.duplicate:
            counts.duplicates += 1
            return 200, _OK_DUPLICATE, None
        return 200, b'{"status":"stored","id":%d}' % stored.event_id, None

    # -- the ASGI way in -----------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.fallback(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["method"] != "POST":
            await _send_reply(send, METHOD_NOT_ALLOWED)
            return
        early = self.check(scope)
        if early is not None:
            await _send_reply(send, early)
            return
        # The time a body may take is limited by the protocol (http_protocol.py): a client
        # that drips it gets 408 from there, and this read ends with ClientGone.
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            await _send_reply(send, self.too_large())
            return
        except ClientGone:
            return
        delivery, commit = self.store(body, asyncio.get_running_loop())
        await asyncio.wait([commit])
        await _send_reply(send, self.answer(delivery, commit, started))


METHOD_NOT_ALLOWED: Reply = (
    405,
    b'{"error":"method_not_allowed","detail":"use POST"}',
    [(b"allow", b"POST")],
)


def _error(status: int, reason: str, detail: str) -> Reply:
    return status, orjson.dumps({"error": reason, "detail": detail}), None


async def _send_reply(send: Send, reply: Reply) -> None:
    status, body, extra = reply
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
