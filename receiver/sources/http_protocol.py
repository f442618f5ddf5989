"""uvicorn's httptools protocol with the limits it lacks, and a direct way in for callbacks.

Limits: header size, header time, body time.

The callback URL is public. Without these, an unauthenticated client could make the server
buffer unlimited header bytes, or hold connections open by dripping header or body bytes
forever (slowloris); the reliability suite showed each. Body size is limited in
sources/http.py, idle keep-alive connections by uvicorn itself.

Why here and this way: the limits cost per request only a few attribute writes. A timer per
request (call_later + cancel) and a deadline per request body in the app together cost
about 4 µs of the ~25 µs intake may add to a bare endpoint (bench/), so one sweep per
second per event loop checks every open connection instead. A phase therefore times out
between its limit and one second later.

The direct way in: a POST to the callback path is checked, stored and answered here, by
the CallbackEndpoint's own decisions (sources/http.py), with no ASGI task, receive/send
coroutines or response-event dicts. Measured on a bare endpoint, that machinery cost 11 of
25 µs per request (bench/, issue 5). Everything else, and a callback the endpoint does not
take directly, goes through ASGI as before. Kept as in uvicorn's own cycle: keep-alive and
`connection: close`, pipelined requests (reading pauses until the answer), Expect:
100-continue (answered once the headers pass), flow control, graceful shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

if TYPE_CHECKING:
    from receiver.sources.http import CallbackEndpoint, Reply
    from receiver.store import Delivery, Stored

MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 10.0  # seconds from the first byte of a request to the end of its headers
BODY_TIMEOUT = 10.0  # seconds from the end of the headers to the end of the body
SWEEP_EVERY = 1.0

_IDLE, _HEADERS, _BODY = 0, 1, 2
_BODY_TIMEOUT_REPLY = orjson.dumps(
    {"error": "body_timeout", "detail": "the request body arrived too slowly"}
)


class OpenRequests:
    """What the group commit should wait for before it commits (store/group_commit.py).

    `count`: requests whose headers are in and whose response is not yet complete.
    Warm connections: keep-alive connections answered less than WARM_SECONDS ago that have
    not started their next request. In a burst, a client that was just answered usually
    sends its next request within a fraction of a millisecond; counting it lets that
    request share the next commit (bench/: without it, a commit under wrk -c32 held a
    median of 11 events, and at FULL the fsyncs took a third of the event loop). A
    connection answered longer ago is not waited for, so a trickle is not delayed.
    """

    WARM_SECONDS = 0.002

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.count = 0
        self.clock = clock
        self._warm = 0
        # (answered at, connection), in answer order; stale entries are skipped on expiry.
        self._answered: deque[tuple[float, GuardedHttpToolsProtocol]] = deque()

    def answered(self, conn: GuardedHttpToolsProtocol) -> None:
        now = self.clock()
        if conn.warm_since is None:
            self._warm += 1
        conn.warm_since = now
        self._answered.append((now, conn))

    def busy_again(self, conn: GuardedHttpToolsProtocol) -> None:
        """A new request began on the connection, or it closed."""
        if conn.warm_since is not None:
            conn.warm_since = None
            self._warm -= 1

    def expected(self) -> int:
        """Requests being handled plus connections likely to send one at any moment."""
        horizon = self.clock() - self.WARM_SECONDS
        answered = self._answered
        while answered and answered[0][0] < horizon:
            at, conn = answered.popleft()
            if conn.warm_since == at:
                conn.warm_since = None
                self._warm -= 1
        return self.count + self._warm


class _Sweeper:
    """One timer per event loop that closes connections stuck in a phase for too long."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: weakref.WeakSet[GuardedHttpToolsProtocol] = weakref.WeakSet()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, conn: GuardedHttpToolsProtocol) -> None:
        self.connections.add(conn)
        if self._timer is None:
            self._timer = self.loop.call_later(SWEEP_EVERY, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check_phase(now)
        self._timer = self.loop.call_later(SWEEP_EVERY, self._sweep) if self.connections else None


_SWEEPERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = (
    weakref.WeakKeyDictionary()
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES
    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT
    #: Told when a body timed out; see guarded_protocol().
    on_body_timeout: Callable[[], None] | None = None
    #: Shared by the connections of one server; see guarded_protocol().
    open_requests: OpenRequests = OpenRequests()
    #: Answers callbacks directly; None: every request goes through ASGI.
    callback: CallbackEndpoint | None = None
    #: The callback whose body is still arriving, and when its headers were complete.
    _direct: RequestResponseCycle | None = None
    _direct_started = 0.0
    #: When this idle keep-alive connection was last answered; None: not warm (see
    #: OpenRequests).
    warm_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        loop: Any = self.loop
        self._phase = _HEADERS  # a connection that never completes its first headers is closed
        self._phase_since: float = loop.time()
        self._phase_bytes = 0
        self._open = 0  # this connection's share of open_requests
        sweeper = _SWEEPERS.get(loop)
        if sweeper is None:
            sweeper = _SWEEPERS[loop] = _Sweeper(loop)
        sweeper.add(self)

    def data_received(self, data: bytes) -> None:
        in_headers = self._phase == _HEADERS
        super().data_received(data)
        if in_headers and self._phase == _HEADERS and not self.transport.is_closing():
            # Still inside the headers after this chunk: the bytes received so far bound
            # the header size from above; the exact count is taken only past the limit.
            self._phase_bytes += len(data)
            if self._phase_bytes > self.max_header_bytes and self._headers_too_large():
                self.send_400_response("request headers too large")

    def _headers_too_large(self) -> bool:
        parsed = sum(len(name) + len(value) for name, value in self.headers)
        # Bytes the parser holds in a header not yet complete are not in self.headers; a
        # request whose headers are still incomplete after twice the limit is refused too.
        return parsed > self.max_header_bytes or self._phase_bytes > 2 * self.max_header_bytes

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != _HEADERS:  # a keep-alive connection starting its next request
            self._phase = _HEADERS
            self._phase_since = self.loop.time()  # type: ignore[attr-defined]
            self._phase_bytes = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self.open_requests.count -= self._open
        self._open = 0
        self.open_requests.busy_again(self)
        sweeper = _SWEEPERS.get(self.loop)  # type: ignore[arg-type]
        if sweeper is not None:
            sweeper.connections.discard(self)
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._phase_since = self.loop.time()  # type: ignore[attr-defined]
        self._open += 1
        self.open_requests.count += 1
        self.open_requests.busy_again(self)
        super().on_headers_complete()
        if self.parser.should_upgrade():  # pragma: no cover - upgrades are refused anyway
            self._phase = _IDLE

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        super().on_message_complete()
        if self._direct is not None and self._direct is self.cycle:
            self._store_direct(self._direct)

    # -- the direct way in for callbacks -------------------------------------------------------
    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        endpoint = self.callback
        scope: Any = cycle.scope
        if (
            endpoint is None
            or scope["method"] != "POST"
            or scope["path"] != endpoint.path
            or not endpoint.takes_directly(scope)
        ):
            super()._start_asgi_task(cycle, app)
            return
        self._direct_started = time.perf_counter()
        early = endpoint.check(scope)
        if early is not None:
            self._reply(cycle, early)
            return
        if cycle.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        self._direct = cycle
        if not cycle.more_body:  # a pipelined request whose body was already here
            self._store_direct(cycle)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        cycle = self._direct
        if cycle is None or cycle is not self.cycle:
            return
        # uvicorn pauses reading above 64 KiB until the app asks for more; nothing asks
        # here, so the body is limited by size instead, as read_body() does on ASGI.
        self.flow.resume_reading()
        assert self.callback is not None
        if len(cycle.body) > self.callback.max_body:
            self._direct = None
            cycle.body = bytearray()
            self._reply(cycle, self.callback.too_large())

    def _store_direct(self, cycle: RequestResponseCycle) -> None:
        self._direct = None
        endpoint = self.callback
        assert endpoint is not None
        delivery, commit = endpoint.store(bytes(cycle.body), self.loop)  # type: ignore[arg-type]
        cycle.body = bytearray()
        commit.add_done_callback(
            functools.partial(self._stored, cycle, delivery, self._direct_started)
        )

    def _stored(
        self,
        cycle: RequestResponseCycle,
        delivery: Delivery,
        started: float,
        commit: asyncio.Future[Stored],
    ) -> None:
        assert self.callback is not None
        self._reply(cycle, self.callback.answer(delivery, commit, started))

    def _reply(self, cycle: RequestResponseCycle, reply: Reply) -> None:
        """Write a whole response, as RequestResponseCycle.send() would for two messages."""
        if cycle.disconnected or cycle.response_started:  # the client left, or got a 408
            return
        status, body, extra = reply
        parts = [STATUS_LINE[status]]
        for name, value in cycle.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        for name, value in extra or ():
            parts += [name, b": ", value, b"\r\n"]
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += [b"\r\n", body]
        cycle.response_started = cycle.response_complete = True
        cycle.waiting_for_100_continue = False
        self.transport.write(b"".join(parts))
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    def on_response_complete(self) -> None:
        if self._open:
            self._open -= 1
            self.open_requests.count -= 1
        super().on_response_complete()
        if not self.transport.is_closing():
            self.open_requests.answered(self)

    def check_phase(self, now: float) -> None:
        """Called by the sweeper: close a connection stuck in its headers or body."""
        if self._phase == _IDLE or self.transport.is_closing():
            return
        if self._phase == _HEADERS:
            if now - self._phase_since > self.header_timeout:
                self.transport.close()
            return
        if now - self._phase_since <= self.body_timeout:
            return
        self._phase = _IDLE
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            hook = type(self).on_body_timeout
            if hook is not None:
                hook()
            body = _BODY_TIMEOUT_REPLY
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
            # The app, waiting for the rest of the body, now reads a disconnect, and
            # anything it might still send is dropped.
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def guarded_protocol(
    on_body_timeout: Callable[[], None],
    open_requests: OpenRequests,
    callback: CallbackEndpoint | None = None,
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for one server: it tells `on_body_timeout` of each 408 it sends,
    keeps `open_requests` up to date, and answers `callback`'s POSTs directly."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "on_body_timeout": staticmethod(on_body_timeout),
            "open_requests": open_requests,
            "callback": callback,
        },
    )
