"""Loopback emulator of Alibaba Cloud MNS (Simple Message Queue) queues.

Why it exists: the real service is unreachable in development and CI, yet the consumer
must be exercised through the *unmodified* ``aliyun-mns-sdk``.  This server speaks the
SDK's wire protocol (REST + XML, API version 2015-06-06), verifies request signatures the
way MNS does, models visibility timeouts, receipt-handle rotation and long polling, and
adds fault injection plus inspection hooks for tests.  Stdlib only, so it can run anywhere
the service runs (``vodhook sandbox mns``).

Typical use::

    with MnsEmulator() as emu:
        emu.create_queue("events", visibility_timeout=30)
        account = Account(emu.endpoint, emu.access_key_id, emu.access_key_secret)
        emu.faults.add(op="BatchReceiveMessage", kind="drop", drop_after_dequeue=True)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import heapq
import hmac
import itertools
import logging
import os
import re
import shlex
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from email.message import Message as HttpHeaders
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import FrameType, TracebackType
from typing import IO, Final, Literal, NamedTuple, cast
from urllib.parse import unquote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from receiver.sandbox.faults import Rule, RuleList, check_budget

__all__ = [
    "API_VERSION",
    "OPERATIONS",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "MessageInfo",
    "MnsEmulator",
    "QueueSnapshot",
    "RequestRecord",
    "serve_forever_cli",
]

API_VERSION: Final = "2015-06-06"
XMLNS: Final = "http://mns.aliyuncs.com/doc/v1/"
MAX_BATCH: Final = 16
MAX_WAIT_SECONDS: Final = 30
MAX_DATE_SKEW_SECONDS: Final = 15 * 60
MAX_BATCH_PAYLOAD: Final = 65536

OPERATIONS: Final = frozenset(
    {
        "ListQueue",
        "CreateQueue",
        "SetQueueAttributes",
        "GetQueueAttributes",
        "DeleteQueue",
        "SendMessage",
        "BatchSendMessage",
        "ReceiveMessage",
        "BatchReceiveMessage",
        "PeekMessage",
        "BatchPeekMessage",
        "DeleteMessage",
        "BatchDeleteMessage",
        "ChangeMessageVisibility",
    }
)
_RECEIVE_OPS: Final = frozenset({"ReceiveMessage", "BatchReceiveMessage"})

FaultKind = Literal["error", "delay", "drop", "instant_empty"]
_FAULT_KINDS: Final = frozenset({"error", "delay", "drop", "instant_empty"})

# Default HTTP status and message per error code (MNS error-code table).  QpsLimitExceeded
# has no documented status; 503 is our choice.  Current MNS throttling answers 429
# TooManyRequests after holding the request ~500 ms (use kind="error", delay=0.5).
_ERRORS: Final[dict[str, tuple[int, str]]] = {
    "InternalError": (500, "Internal error."),
    "InternalServerError": (500, "Internal error."),
    "ServiceUnavailable": (503, "Service unavailable."),
    "QpsLimitExceeded": (503, "The QPS of the queue exceeds the limit."),
    "TooManyRequests": (
        429,
        "The request is denied by cluster flow limiter for too many requests.",
    ),
    "MessageNotExist": (404, "Message not exist."),
    "QueueNotExist": (404, "The queue name you provided is not exist."),
    "AccessDenied": (403, "The OwnerId that your Access Key Id associated to is forbidden."),
    "InvalidAccessKeyId": (403, "The AccessKey Id you provided is not exist."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match."),
    "TimeExpired": (408, "The http request you sent is expired."),
}
_CODE_BY_STATUS: Final[dict[int, str]] = {
    500: "InternalError",
    503: "ServiceUnavailable",
    429: "TooManyRequests",
    404: "MessageNotExist",
    403: "AccessDenied",
    408: "TimeExpired",
}

_QUEUE_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_HANDLE_RE: Final = re.compile(r"1-[A-Za-z0-9+/]+={0,2}\Z")
_HANDLE_RANDOM_BYTES: Final = 7  # 16-byte id + 7 random = 23 bytes -> one '=' like real handles
_LINGER_RESET: Final = struct.pack("ii", 1, 0)

_log = logging.getLogger(__name__)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _MnsError(Exception):
    """An MNS error response; raised anywhere in request handling."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _err(code: str, message: str | None = None, status: int | None = None) -> _MnsError:
    default_status, default_message = _ERRORS.get(code, (400, code))
    return _MnsError(status or default_status, code, message or default_message)


def _invalid(message: str) -> _MnsError:
    return _MnsError(400, "InvalidArgument", message)


def _int_in(value: str | None, name: str, low: int, high: int) -> int:
    """Parse an integer parameter, answering InvalidArgument like MNS when out of range."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _invalid(f"The value of {name} should be an integer.") from None
    if not low <= number <= high:
        raise _invalid(f"The value of {name} should between {low} and {high}.")
    return number


# --------------------------------------------------------------------------- public types


class RequestRecord(NamedTuple):
    """One handled request; ``status`` is 0 when the connection was dropped."""

    timestamp: float
    op: str
    queue: str
    status: int


@dataclass(frozen=True)
class QueueSnapshot:
    """Message counts of one queue (and current long pollers) at one instant."""

    visible: int
    inflight: int
    delayed: int
    waiters: int

    @property
    def total(self) -> int:
        return self.visible + self.inflight + self.delayed


@dataclass(frozen=True)
class MessageInfo:
    """Read-only view of a stored message for test assertions."""

    message_id: str
    body: str
    body_md5: str
    priority: int
    dequeue_count: int
    enqueue_time: int
    first_dequeue_time: int
    next_visible_time: int
    state: Literal["visible", "inflight", "delayed"]
    receipt_handle: str  # last handle issued; dead once the message is visible again


@dataclass(kw_only=True)
class Fault(Rule):
    """One fault rule; see :meth:`FaultInjector.add` for the meaning of each field."""

    kind: FaultKind
    op: str | None
    queue: str | None
    status: int
    code: str
    message: str
    delay: float
    drop_after_dequeue: bool
    reset: bool


class FaultInjector:
    """Thread-safe fault rules consulted by every request; settable while serving.

    Exactly one rule applies per request: the first (in insertion order) whose ``op`` and
    ``queue`` match and whose ``probability`` draw succeeds.  A rule with ``times`` is
    removed after firing that many times.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rules: RuleList[Fault] = RuleList(seed)

    def add(
        self,
        op: str | None = None,
        kind: FaultKind = "error",
        *,
        queue: str | None = None,
        times: int | None = None,
        probability: float | None = None,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        delay: float | None = None,
        drop_after_dequeue: bool = False,
        reset: bool = True,
    ) -> Fault:
        """Add a rule and return it (its ``fired`` counter is live).

        op: operation name (see ``OPERATIONS``) or None for any operation.
        kind:
          * ``"error"`` -- answer ``status``/``code`` with a proper ``<Error>`` body
            (default 500 InternalError; QpsLimitExceeded/ServiceUnavailable -> 503,
            TooManyRequests -> 429 unless ``status`` is given).
          * ``"delay"`` -- sleep ``delay`` seconds (default 0.5) then serve normally.
          * ``"drop"`` -- read the request, then close the TCP connection without any
            response.  ``reset=True`` (default) closes with RST, which the SDK reports as
            ``MNSClientNetworkException``; ``reset=False`` closes with FIN, which the SDK
            treats as a stale keep-alive and silently re-sends the request once.
          * ``"instant_empty"`` -- receive operations only: 404 MessageNotExist at once,
            ignoring waitseconds (what MNS does above its long-poll cap).
        drop_after_dequeue: for "drop" and "error", perform the operation first (a receive
            dequeues and increments DequeueCount, a send stores, a delete deletes) and only
            then drop/fail -- the "server did it but the client never saw it" case.
        delay: for kinds other than "delay", an extra pause before the fault acts.
        times/probability: fire ``times`` times, each time with chance ``probability``;
            with neither given the rule fires once; with only ``probability`` it stays
            until removed.
        """
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if op is not None and op not in OPERATIONS:
            raise ValueError(f"unknown MNS operation {op!r}; expected one of {sorted(OPERATIONS)}")
        if kind == "instant_empty" and op is not None and op not in _RECEIVE_OPS:
            raise ValueError("instant_empty only applies to ReceiveMessage/BatchReceiveMessage")
        check_budget(times, probability)
        if times is None and probability is None:
            times = 1
        if code is None:
            code = _CODE_BY_STATUS.get(status or 500, "InternalError")
        default_status, default_message = _ERRORS.get(code, (500, code))
        if delay is None:
            delay = 0.5 if kind == "delay" else 0.0
        fault = Fault(
            kind=kind,
            op=op,
            queue=queue,
            times=times,
            probability=probability,
            status=status or default_status,
            code=code,
            message=message or f"{default_message} (injected fault)",
            delay=max(0.0, delay),
            drop_after_dequeue=drop_after_dequeue,
            reset=reset,
        )
        return self._rules.append(fault)

    def remove(self, fault: Fault) -> None:
        """Remove one rule (no error if it already expired)."""
        self._rules.remove(fault)

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def seed(self, seed: int) -> None:
        """Make probability draws reproducible."""
        self._rules.seed(seed)

    @property
    def active(self) -> list[Fault]:
        """Rules still armed, in evaluation order."""
        return self._rules.snapshot()

    def _take(self, op: str, queue: str) -> Fault | None:
        return self._rules.take(
            lambda f: (
                (f.op is None or f.op == op)
                and (f.queue is None or f.queue == queue)
                and (f.kind != "instant_empty" or op in _RECEIVE_OPS)
            )
        )


# --------------------------------------------------------------------------- queue model


@dataclass
class _QueueAttrs:
    visibility_timeout: int = 30
    maximum_message_size: int = 65536
    message_retention_period: int = 345600
    delay_seconds: int = 0
    polling_wait_seconds: int = 0
    logging_enabled: bool = False


# XML element -> (attribute, low, high) for CreateQueue/SetQueueAttributes validation.
_ATTR_SPEC: Final[dict[str, tuple[str, int, int]]] = {
    "VisibilityTimeout": ("visibility_timeout", 1, 43200),
    "MaximumMessageSize": ("maximum_message_size", 1024, 65536),
    "MessageRetentionPeriod": ("message_retention_period", 60, 604800),
    "DelaySeconds": ("delay_seconds", 0, 604800),
    "PollingWaitSeconds": ("polling_wait_seconds", 0, MAX_WAIT_SECONDS),
}

# (container tag, item tag, [(child tag, text), ...]) kept verbatim to echo on receive.
_Props = list[tuple[str, str, list[tuple[str, str]]]]


@dataclass(slots=True, eq=False)
class _Msg:
    message_id: str
    body: str
    body_md5: str
    priority: int
    seq: int
    enqueue_ms: int
    visible_at: int
    group_id: str = ""
    props: _Props = field(default_factory=list)
    dequeue_count: int = 0
    first_dequeue_ms: int = 0
    handle: str = ""
    gen: int = 0


class _Queue:
    """State of one queue.  Every method except __init__ must run with ``cond`` held.

    Visible messages sit in ``ready`` (heap by priority, send order); invisible ones
    (delayed or in flight) in ``pending`` (heap by visible_at).  Entries are invalidated
    lazily: each state change bumps ``_Msg.gen`` and stale heap entries are skipped.
    """

    def __init__(self, name: str, attrs: _QueueAttrs, now_ms: int) -> None:
        self.name = name
        self.attrs = attrs
        self.create_ms = now_ms
        self.modify_ms = now_ms
        lock = threading.Lock()
        self.cond = threading.Condition(lock)  # state changes / long-poll wake-ups
        self.pollers_changed = threading.Condition(lock)  # for wait_for_pollers()
        self.msgs: dict[str, _Msg] = {}
        self.ready: list[tuple[int, int, int, str]] = []
        self.pending: list[tuple[int, int, str]] = []
        self.waiters = 0  # receive calls currently long-polling
        self.sleep_plans: dict[int, int] = {}  # poller thread id -> planned wake-up (ms)
        self.deleted = False
        self.seq = itertools.count()

    def _valid(self, gen: int, message_id: str) -> _Msg | None:
        msg = self.msgs.get(message_id)
        return msg if msg is not None and msg.gen == gen else None

    def earliest_pending(self) -> int | None:
        """Time the next invisible message becomes visible (drops stale heap tops)."""
        pending = self.pending
        while pending:
            visible_at, gen, message_id = pending[0]
            if self._valid(gen, message_id) is not None:
                return visible_at
            heapq.heappop(pending)
        return None

    def promote(self, now: int) -> None:
        pending = self.pending
        while pending and pending[0][0] <= now:
            _, gen, message_id = heapq.heappop(pending)
            msg = self._valid(gen, message_id)
            if msg is not None:
                heapq.heappush(self.ready, (msg.priority, msg.seq, gen, message_id))

    def _wake_oversleepers(self, visible_at: int) -> None:
        """Wake pollers planning to sleep past ``visible_at`` so they re-plan.

        With the usual VisibilityTimeout >= waitseconds nobody oversleeps, so steady-state
        receives cause no thundering herd among idle pollers.
        """
        if any(plan > visible_at for plan in self.sleep_plans.values()):
            self.cond.notify_all()

    def schedule(self, msg: _Msg) -> None:
        """Put ``msg`` in the invisible set (delayed, in flight, or re-timed)."""
        heapq.heappush(self.pending, (msg.visible_at, msg.gen, msg.message_id))
        self._wake_oversleepers(msg.visible_at)
        if len(self.pending) > 2 * len(self.msgs) + 64:
            self.pending = [e for e in self.pending if self._valid(e[1], e[2]) is not None]
            heapq.heapify(self.pending)

    def add(self, msg: _Msg, now: int) -> None:
        self.msgs[msg.message_id] = msg
        if msg.visible_at <= now:
            heapq.heappush(self.ready, (msg.priority, msg.seq, msg.gen, msg.message_id))
            if self.sleep_plans:
                self.cond.notify()
        else:
            self.schedule(msg)

    def take(self, count: int, now: int) -> list[_Msg]:
        """Dequeue up to ``count`` visible messages, making them in flight."""
        self.promote(now)
        taken: list[_Msg] = []
        ready = self.ready
        visible_at = now + self.attrs.visibility_timeout * 1000
        while ready and len(taken) < count:
            _, _, gen, message_id = heapq.heappop(ready)
            msg = self._valid(gen, message_id)
            if msg is None:
                continue
            msg.dequeue_count += 1
            if not msg.first_dequeue_ms:
                msg.first_dequeue_ms = now
            msg.gen += 1
            msg.visible_at = visible_at
            msg.handle = _new_handle(message_id)
            taken.append(msg)
        if taken:
            for msg in taken:
                heapq.heappush(self.pending, (msg.visible_at, msg.gen, msg.message_id))
            self._wake_oversleepers(visible_at)
        return taken

    def peek(self, count: int, now: int) -> list[_Msg]:
        self.promote(now)
        visible = [self.msgs[mid] for _, _, gen, mid in self.ready if self._valid(gen, mid)]
        visible.sort(key=lambda m: (m.priority, m.seq))
        return visible[:count]

    def by_handle(self, handle: str, now: int) -> _Msg:
        """Resolve a receipt handle: malformed -> ReceiptHandleError, stale -> 404."""
        message_id = _handle_message_id(handle)
        msg = self.msgs.get(message_id)
        if msg is None or msg.handle != handle or now >= msg.visible_at:
            raise _err("MessageNotExist")
        return msg

    def remove(self, msg: _Msg) -> None:
        del self.msgs[msg.message_id]
        msg.gen += 1

    def expire_all(self, now: int) -> int:
        count = 0
        for msg in self.msgs.values():
            if msg.visible_at > now and msg.dequeue_count:
                msg.gen += 1
                msg.visible_at = now
                heapq.heappush(self.ready, (msg.priority, msg.seq, msg.gen, msg.message_id))
                count += 1
        if count:
            self.cond.notify_all()
        return count

    @staticmethod
    def state(msg: _Msg, now: int) -> Literal["visible", "inflight", "delayed"]:
        if msg.visible_at <= now:
            return "visible"
        return "inflight" if msg.dequeue_count else "delayed"

    def counts(self, now: int) -> tuple[int, int, int]:
        visible = inflight = delayed = 0
        for msg in self.msgs.values():
            state = self.state(msg, now)
            if state == "visible":
                visible += 1
            elif state == "inflight":
                inflight += 1
            else:
                delayed += 1
        return visible, inflight, delayed


def _new_handle(message_id: str) -> str:
    raw = bytes.fromhex(message_id) + os.urandom(_HANDLE_RANDOM_BYTES)
    return "1-" + base64.b64encode(raw).decode("ascii")


def _handle_message_id(handle: str) -> str:
    if not _HANDLE_RE.match(handle):
        raise _err("ReceiptHandleError", "The receipt handle you provided is not valid.")
    try:
        raw = base64.b64decode(handle[2:], validate=True)
    except (binascii.Error, ValueError):
        raise _err("ReceiptHandleError", "The receipt handle you provided is not valid.") from None
    if len(raw) != 16 + _HANDLE_RANDOM_BYTES:
        raise _err("ReceiptHandleError", "The receipt handle you provided is not valid.")
    return raw[:16].hex().upper()


def _body_md5(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


# --------------------------------------------------------------------------- XML helpers


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element) -> dict[str, ET.Element]:
    return {_local(child.tag): child for child in element}


def _text(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    return element.text or ""


def _esc(value: object) -> str:
    return escape(str(value), {"\r": "&#13;"})


def _el(tag: str, value: object) -> str:
    return f"<{tag}>{_esc(value)}</{tag}>"


def _doc(root: str, inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{XMLNS}">{inner}</{root}>'
    ).encode()


def _props_xml(props: _Props) -> str:
    parts: list[str] = []
    for container, item, children in props:
        inner = "".join(_el(tag, text) for tag, text in children)
        parts.append(f"<{container}><{item}>{inner}</{item}></{container}>")
    return "".join(parts)


def _message_xml(msg: _Msg, *, with_handle: bool) -> str:
    """The 9 fields the SDK requires on receive (7 on peek), plus optional extras.

    Ids, handles (base64) and numbers never need escaping; only the body and group id do.
    """
    handle = f"<ReceiptHandle>{msg.handle}</ReceiptHandle>" if with_handle else ""
    visible = f"<NextVisibleTime>{msg.visible_at}</NextVisibleTime>" if with_handle else ""
    extra = _el("MessageGroupId", msg.group_id) if msg.group_id else ""
    if msg.props:
        extra += _props_xml(msg.props)
    return (
        f"<MessageId>{msg.message_id}</MessageId>{handle}"
        f"<MessageBodyMD5>{msg.body_md5}</MessageBodyMD5>"
        f"<MessageBody>{_esc(msg.body)}</MessageBody>"
        f"<EnqueueTime>{msg.enqueue_ms}</EnqueueTime>"
        f"<FirstDequeueTime>{msg.first_dequeue_ms}</FirstDequeueTime>{visible}"
        f"<DequeueCount>{msg.dequeue_count}</DequeueCount>"
        f"<Priority>{msg.priority}</Priority>{extra}"
    )


def _wrap_messages(items: list[str]) -> str:
    return "".join(f"<Message>{item}</Message>" for item in items)


def _error_xml(code: str, message: str, request_id: str, host_id: str) -> bytes:
    inner = (
        _el("Code", code)
        + _el("Message", message)
        + _el("RequestId", request_id)
        + _el("HostId", host_id)
    )
    return _doc("Error", inner)


def _parse_query(query: str) -> dict[str, str]:
    """Parse a query string the way MNS must: names case-insensitive, '+' is not a space."""
    params: dict[str, str] = {}
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            params[unquote(name).lower()] = unquote(value)
    return params


@dataclass
class _Route:
    op: str
    queue: str
    params: dict[str, str]
    xml: ET.Element | None
    xml_error: bool


class _Response(NamedTuple):
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


_NO_CONTENT: Final = _Response(204, b"")


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks live connections so stop() can close them."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: MnsEmulator) -> None:
        self.emulator = emulator
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._reset: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); not needed here.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns[conn] = threading.current_thread()

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns.pop(conn, None)

    def mark_reset(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._reset.add(conn)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._conn_lock:
            reset = request in self._reset
            self._reset.discard(request)
        if not reset:
            super().shutdown_request(request)
            return
        # SO_LINGER 0 + close sends RST instead of FIN: the client sees ECONNRESET rather
        # than a clean EOF (which the SDK would treat as a stale keep-alive and retry).
        with contextlib.suppress(OSError):
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.close_request(request)

    def close_connections(self) -> list[threading.Thread]:
        with self._conn_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in conns]

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients vanishing mid-request is normal under fault injection; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "AliyunMNS-Emulator"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self._server().track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server().untrack(self.connection)

    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request stderr logging; use MnsEmulator.request_log instead."""

    def do_GET(self) -> None:
        self._server().emulator._serve(self)

    def do_PUT(self) -> None:
        self._server().emulator._serve(self)

    def do_POST(self) -> None:
        self._server().emulator._serve(self)

    def do_DELETE(self) -> None:
        self._server().emulator._serve(self)

    def read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return b""
        return self.rfile.read(size) if size > 0 else b""

    def drop(self, reset: bool) -> None:
        self.close_connection = True
        if reset:
            self._server().mark_reset(self.connection)

    def respond(self, response: _Response, request_id: str, date: str, close: bool) -> None:
        status, body, extra = response
        reason = _REASONS.get(status, "Error")
        lines = [
            f"HTTP/1.1 {status} {reason}",
            "Server: AliyunMNS-Emulator",
            f"Date: {date}",
            f"x-mns-request-id: {request_id}",
            f"x-mns-version: {API_VERSION}",
        ]
        if status != 204:
            lines.append(f"Content-Length: {len(body)}")
            if body:
                lines.append("Content-Type: text/xml;charset=utf-8")
        lines += [f"{name}: {value}" for name, value in extra]
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall
        except OSError:
            self.close_connection = True


_REASONS: Final = {status.value: status.phrase for status in HTTPStatus}


# --------------------------------------------------------------------------- the emulator


class MnsEmulator:
    """In-process MNS queue service on loopback, driven by the real SDK over HTTP.

    Thread-safe.  Queue state lives in this object, so ``stop()`` then ``start()`` (same
    port) emulates a service restart that keeps its messages.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str = "sandbox-ak",
        access_key_secret: str = "sandbox-secret",
        security_token: str | None = None,
        *,
        fault_seed: int | None = None,
        request_log_size: int = 100_000,
    ) -> None:
        self.host = host
        self._port = port
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.faults = FaultInjector(fault_seed)
        self._secret = access_key_secret.encode("utf-8")
        self._lock = threading.Lock()
        self._queues: dict[str, _Queue] = {}
        self._log_lock = threading.Lock()
        self._log: deque[RequestRecord] = deque(maxlen=request_log_size)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._request_ids = itertools.count(1)
        self._request_id_prefix = os.urandom(7).hex().upper()
        self._date_cache: tuple[int, str] = (0, "")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> MnsEmulator:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self._port), self)
        self._port = server.server_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mns-emulator:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: wake long polls, close every connection, join worker threads."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        for queue in self._queue_list():
            with queue.cond:
                queue.cond.notify_all()
        server.shutdown()
        server.server_close()
        workers = server.close_connections()
        deadline = time.monotonic() + timeout
        for worker in [*workers, *([thread] if thread else [])]:
            if worker is not threading.current_thread():
                worker.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> MnsEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Bound port (the requested one before start())."""
        return self._port

    @property
    def endpoint(self) -> str:
        """URL to hand to ``mns.account.Account``."""
        return f"http://{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ direct test hooks

    def create_queue(
        self,
        name: str,
        visibility_timeout: int = 30,
        polling_wait_seconds: int = 0,
        *,
        delay_seconds: int = 0,
        maximum_message_size: int = 65536,
        message_retention_period: int = 345600,
    ) -> None:
        """Create (or reconfigure) a queue without HTTP; ValueError on invalid attributes."""
        try:
            _validate_queue_name(name)
            attrs = self._direct_attrs(
                visibility_timeout,
                polling_wait_seconds,
                delay_seconds,
                maximum_message_size,
                message_retention_period,
            )
        except _MnsError as exc:
            raise ValueError(exc.message) from None
        with self._lock:
            existing = self._queues.get(name)
            if existing is None:
                self._queues[name] = _Queue(name, attrs, _now_ms())
                return
        with existing.cond:
            existing.attrs = attrs
            existing.modify_ms = _now_ms()

    @staticmethod
    def _direct_attrs(
        visibility_timeout: int,
        polling_wait_seconds: int,
        delay_seconds: int,
        maximum_message_size: int,
        message_retention_period: int,
    ) -> _QueueAttrs:
        return _QueueAttrs(
            visibility_timeout=_int_in(str(visibility_timeout), "VisibilityTimeout", 1, 43200),
            polling_wait_seconds=_int_in(
                str(polling_wait_seconds), "PollingWaitSeconds", 0, MAX_WAIT_SECONDS
            ),
            delay_seconds=_int_in(str(delay_seconds), "DelaySeconds", 0, 604800),
            maximum_message_size=_int_in(
                str(maximum_message_size), "MaximumMessageSize", 1024, 65536
            ),
            message_retention_period=_int_in(
                str(message_retention_period), "MessageRetentionPeriod", 60, 604800
            ),
        )

    def delete_queue(self, name: str) -> None:
        """Delete a queue directly; pending long polls on it get QueueNotExist."""
        with self._lock:
            queue = self._queues.pop(name, None)
        if queue is None:
            raise KeyError(name)
        with queue.cond:
            queue.deleted = True
            queue.cond.notify_all()

    def put_message(
        self, name: str, body: str, *, priority: int = 8, delay_seconds: int = 0
    ) -> str:
        """Enqueue ``body`` verbatim (no base64), e.g. to plant a poison message."""
        queue = self._queue(name)
        with queue.cond:
            now = _now_ms()
            msg = _Msg(
                message_id=os.urandom(16).hex().upper(),
                body=body,
                body_md5=_body_md5(body),
                priority=priority,
                seq=next(queue.seq),
                enqueue_ms=now,
                visible_at=now + delay_seconds * 1000,
            )
            queue.add(msg, now)
        return msg.message_id

    def queue_names(self) -> list[str]:
        with self._lock:
            return sorted(self._queues)

    def queue_snapshot(self, name: str) -> QueueSnapshot:
        """Counts of visible / in-flight / delayed messages and current long pollers."""
        queue = self._queue(name)
        with queue.cond:
            visible, inflight, delayed = queue.counts(_now_ms())
            return QueueSnapshot(visible, inflight, delayed, queue.waiters)

    def all_messages(self, name: str) -> list[MessageInfo]:
        """Every stored message in send order, bodies exactly as stored (never decoded)."""
        queue = self._queue(name)
        with queue.cond:
            now = _now_ms()
            return [
                MessageInfo(
                    message_id=m.message_id,
                    body=m.body,
                    body_md5=m.body_md5,
                    priority=m.priority,
                    dequeue_count=m.dequeue_count,
                    enqueue_time=m.enqueue_ms,
                    first_dequeue_time=m.first_dequeue_ms,
                    next_visible_time=m.visible_at,
                    state=queue.state(m, now),
                    receipt_handle=m.handle,
                )
                for m in sorted(queue.msgs.values(), key=lambda m: m.seq)
            ]

    def expire_visibility(self, name: str) -> int:
        """Make every in-flight message visible now (old handles die); returns the count."""
        queue = self._queue(name)
        with queue.cond:
            return queue.expire_all(_now_ms())

    def wait_for_pollers(self, name: str, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until ``count`` receive calls are long-polling on the queue (no sleeping)."""
        queue = self._queue(name)
        with queue.cond:
            return queue.pollers_changed.wait_for(lambda: queue.waiters >= count, timeout)

    @property
    def request_log(self) -> list[RequestRecord]:
        """Snapshot of handled requests: (timestamp, op, queue, status); newest last."""
        with self._log_lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    # ------------------------------------------------------------------ internals

    def _queue_list(self) -> list[_Queue]:
        with self._lock:
            return list(self._queues.values())

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise KeyError(f"no such queue: {name!r}")
        return queue

    def _existing(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise _err("QueueNotExist")
        return queue

    def _http_date(self) -> str:
        second = int(time.time())
        cached_second, cached = self._date_cache
        if cached_second != second:
            cached = formatdate(second, usegmt=True)
            self._date_cache = (second, cached)
        return cached

    def _serve(self, handler: _Handler) -> None:
        """Handle one HTTP request end to end: route, auth, faults, execute, respond."""
        body = handler.read_body()
        request_id = f"{self._request_id_prefix}{next(self._request_ids):010X}"
        route: _Route | None = None
        try:
            route = _route(handler.command, handler.path, body)
            self._authenticate(handler.command, handler.path, handler.headers, body)
            fault = self.faults._take(route.op, route.queue)
            if fault is not None:
                response = self._apply_fault(fault, route, handler, body)
                if response is None:
                    return  # connection dropped (already logged with status 0)
            else:
                response = self._execute(route, handler.headers, body)
        except _MnsError as exc:
            response = _Response(
                exc.status, _error_xml(exc.code, exc.message, request_id, self.endpoint)
            )
        except Exception as exc:  # defensive: never leave the SDK without an answer
            _log.exception("MNS emulator bug while serving %s %s", handler.command, handler.path)
            response = _Response(
                500, _error_xml("InternalError", repr(exc), request_id, self.endpoint)
            )
        # Record before answering so a test reading request_log after the SDK call sees it.
        self._record(route, response.status)
        handler.respond(response, request_id, self._http_date(), self._stopping.is_set())

    def _record(self, route: _Route | None, status: int) -> None:
        record = RequestRecord(
            time.time(), route.op if route else "Unknown", route.queue if route else "", status
        )
        with self._log_lock:
            self._log.append(record)

    def _apply_fault(
        self, fault: Fault, route: _Route, handler: _Handler, body: bytes
    ) -> _Response | None:
        if fault.delay and self._stopping.wait(fault.delay):
            raise _err("ServiceUnavailable", "The emulator is stopping.")
        if fault.kind == "delay":
            return self._execute(route, handler.headers, body)
        if fault.kind == "instant_empty":
            raise _err("MessageNotExist")
        if fault.drop_after_dequeue:
            with contextlib.suppress(_MnsError):
                self._execute(route, handler.headers, body)
        if fault.kind == "drop":
            handler.drop(fault.reset)
            self._record(route, 0)
            return None
        raise _MnsError(fault.status, fault.code, fault.message)

    def _authenticate(self, method: str, raw_uri: str, headers: HttpHeaders, body: bytes) -> None:
        """Check version, Authorization, Date skew, signature, STS token and Content-MD5."""
        if headers.get("x-mns-version") != API_VERSION:
            raise _invalid(f"The x-mns-version header must be {API_VERSION}.")
        authorization = headers.get("Authorization")
        if not authorization:
            raise _err("MissingAuthorizationHeader", "Authorization header is required.")
        scheme, _, credential = authorization.partition(" ")
        access_key_id, sep, signature = credential.strip().rpartition(":")
        if scheme != "MNS" or not sep or not access_key_id or not signature:
            raise _err("InvalidAuthorizationHeader", "The Authorization header format is invalid.")
        date = headers.get("Date")
        if not date:
            raise _err("MissingDateHeader", "Date header is required.")
        try:
            sent = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            raise _err("InvalidDateHeader", "The Date header format is invalid.") from None
        if abs(time.time() - sent) > MAX_DATE_SKEW_SECONDS:
            raise _err("TimeExpired")
        if access_key_id != self.access_key_id:
            raise _err("InvalidAccessKeyId")
        content_md5 = headers.get("Content-MD5", "")
        content_type = headers.get("Content-Type", "")
        mns_headers = sorted(
            (name.lower(), value)
            for name, value in headers.items()
            if name.lower().startswith("x-mns-")
        )
        string_to_sign = (
            f"{method}\n{content_md5}\n{content_type}\n{date}\n"
            + "".join(f"{name}:{value}\n" for name, value in mns_headers)
            + raw_uri
        )
        digest = hmac.new(self._secret, string_to_sign.encode("utf-8"), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode("ascii")
        if not hmac.compare_digest(expected, signature):
            raise _err("SignatureDoesNotMatch")
        if self.security_token is not None:
            token = headers.get("security-token")
            if token is None or not hmac.compare_digest(token, self.security_token):
                raise _err("InvalidAccessKeyId", "The security token you provided is invalid.")
        if body and content_md5:
            hex_md5 = hashlib.md5(body).hexdigest()
            # The SDK sends base64(hex digest); RFC 1864 says base64(raw digest).  Accept both.
            accepted = (
                base64.b64encode(hex_md5.encode("ascii")).decode("ascii"),
                base64.b64encode(bytes.fromhex(hex_md5)).decode("ascii"),
            )
            if content_md5 not in accepted:
                raise _err("InvalidDegist", "The Content-MD5 you specified is invalid.")

    # ------------------------------------------------------------------ operations

    def _execute(self, route: _Route, headers: HttpHeaders, body: bytes) -> _Response:
        op = route.op
        if route.xml_error:
            raise _err("MalformedXML", "The XML you provided was not well-formed.")
        if op == "ListQueue":
            return self._list_queues(headers)
        if op in ("CreateQueue", "SetQueueAttributes"):
            return self._create_or_set(route, overwrite=op == "SetQueueAttributes")
        queue = self._existing(route.queue)
        if op == "GetQueueAttributes":
            return self._get_attributes(queue)
        if op == "DeleteQueue":
            try:
                self.delete_queue(route.queue)
            except KeyError:
                raise _err("QueueNotExist") from None
            return _NO_CONTENT
        if op in ("SendMessage", "BatchSendMessage"):
            return self._send(queue, route)
        if op in _RECEIVE_OPS:
            return self._receive(queue, route)
        if op in ("PeekMessage", "BatchPeekMessage"):
            return self._peek(queue, route)
        if op == "DeleteMessage":
            return self._delete(queue, route)
        if op == "BatchDeleteMessage":
            return self._batch_delete(queue, route)
        return self._change_visibility(queue, route)

    def _create_or_set(self, route: _Route, *, overwrite: bool) -> _Response:
        name = route.queue
        _validate_queue_name(name)
        with self._lock:
            existing = self._queues.get(name)
        if overwrite and existing is None:
            raise _err("QueueNotExist")
        base = replace(existing.attrs) if overwrite and existing else _QueueAttrs()
        attrs = _parse_queue_attrs(route.xml, base)
        location = (("Location", f"{self.endpoint}/queues/{name}"),)
        if overwrite and existing is not None:
            with existing.cond:
                existing.attrs = attrs
                existing.modify_ms = _now_ms()
                existing.cond.notify_all()
            return _NO_CONTENT
        with self._lock:
            existing = self._queues.get(name)
            if existing is None:
                self._queues[name] = _Queue(name, attrs, _now_ms())
                return _Response(201, b"", location)
        if existing.attrs == attrs:
            return _Response(204, b"", location)  # the SDK needs Location on 204 too
        raise _err(
            "QueueAlreadyExist",
            "The queue you want to create is already exist.",
            status=409,
        )

    def _get_attributes(self, queue: _Queue) -> _Response:
        with queue.cond:
            visible, inflight, delayed = queue.counts(_now_ms())
            a = queue.attrs
            inner = "".join(
                (
                    _el("QueueName", queue.name),
                    _el("CreateTime", queue.create_ms // 1000),
                    _el("LastModifyTime", queue.modify_ms // 1000),
                    _el("VisibilityTimeout", a.visibility_timeout),
                    _el("MaximumMessageSize", a.maximum_message_size),
                    _el("MessageRetentionPeriod", a.message_retention_period),
                    _el("DelaySeconds", a.delay_seconds),
                    _el("PollingWaitSeconds", a.polling_wait_seconds),
                    _el("LoggingEnabled", "True" if a.logging_enabled else "False"),
                    _el("ActiveMessages", visible),
                    _el("InactiveMessages", inflight),
                    _el("DelayMessages", delayed),
                )
            )
        return _Response(200, _doc("Queue", inner))

    def _list_queues(self, headers: HttpHeaders) -> _Response:
        prefix = headers.get("x-mns-prefix", "")
        marker = headers.get("x-mns-marker", "")
        ret = headers.get("x-mns-ret-number")
        limit = _int_in(ret, "x-mns-ret-number", 1, 1000) if ret else 1000
        with_meta = headers.get("x-mns-with-meta", "").lower() == "true"
        with self._lock:
            names = [n for n in sorted(self._queues) if n.startswith(prefix) and n > marker]
        page, rest = names[:limit], names[limit:]
        items: list[str] = []
        for name in page:
            inner = _el("QueueURL", f"{self.endpoint}/queues/{name}")
            queue = self._queues.get(name)
            if with_meta and queue is not None:
                a = queue.attrs
                inner += (
                    _el("QueueName", name)
                    + _el("CreateTime", queue.create_ms // 1000)
                    + _el("LastModifyTime", queue.modify_ms // 1000)
                    + _el("VisibilityTimeout", a.visibility_timeout)
                    + _el("MaximumMessageSize", a.maximum_message_size)
                    + _el("MessageRetentionPeriod", a.message_retention_period)
                    + _el("DelaySeconds", a.delay_seconds)
                    + _el("PollingWaitSeconds", a.polling_wait_seconds)
                )
            items.append(f"<Queue>{inner}</Queue>")
        if rest:
            items.append(_el("NextMarker", page[-1]))
        return _Response(200, _doc("Queues", "".join(items)))

    def _parse_message(self, queue: _Queue, element: ET.Element, now: int) -> _Msg:
        children = _children(element)
        body = _text(children.get("MessageBody"))
        if not body:
            raise _invalid("The MessageBody element is required and must not be empty.")
        size = len(body.encode("utf-8"))
        if size > queue.attrs.maximum_message_size:
            raise _invalid(
                f"The length of message should not be larger than MaximumMessageSize "
                f"({queue.attrs.maximum_message_size} bytes)."
            )
        delay_text = _text(children.get("DelaySeconds"))
        delay = (
            queue.attrs.delay_seconds
            if delay_text is None
            else _int_in(delay_text, "DelaySeconds", 0, 604800)
        )
        priority_text = _text(children.get("Priority"))
        priority = 8 if priority_text is None else _int_in(priority_text, "Priority", 1, 16)
        props: _Props = []
        for container in ("UserProperties", "SystemProperties"):
            holder = children.get(container)
            if holder is not None:
                for item in holder:
                    pairs = [(_local(c.tag), c.text or "") for c in item]
                    props.append((container, _local(item.tag), pairs))
        return _Msg(
            message_id=os.urandom(16).hex().upper(),
            body=body,
            body_md5=_body_md5(body),
            priority=priority,
            seq=0,
            enqueue_ms=now,
            visible_at=now + delay * 1000,
            group_id=_text(children.get("MessageGroupId")) or "",
            props=props,
        )

    def _send(self, queue: _Queue, route: _Route) -> _Response:
        root = route.xml
        if root is None:
            raise _invalid("A <Message> or <Messages> body is required.")
        now = _now_ms()
        batch = route.op == "BatchSendMessage"
        elements = [child for child in root if _local(child.tag) == "Message"] if batch else [root]
        if batch and not 1 <= len(elements) <= MAX_BATCH:
            raise _invalid(f"The count of messages should between 1 and {MAX_BATCH}.")
        parsed = [self._parse_message(queue, element, now) for element in elements]
        if batch and sum(len(m.body.encode("utf-8")) for m in parsed) > MAX_BATCH_PAYLOAD:
            raise _invalid(f"The total size of the message bodies exceeds {MAX_BATCH_PAYLOAD}.")
        with queue.cond:
            for msg in parsed:
                msg.seq = next(queue.seq)
                if msg.visible_at > now:
                    msg.handle = _new_handle(msg.message_id)  # MNS returns one for delayed
                queue.add(msg, now)
        if not batch:
            msg = parsed[0]
            inner = _el("MessageId", msg.message_id) + _el("MessageBodyMD5", msg.body_md5)
            if msg.handle:
                inner += _el("ReceiptHandle", msg.handle)
            if msg.group_id:
                inner += _el("MessageGroupId", msg.group_id)
            return _Response(201, _doc("Message", inner))
        items = "".join(
            f"<Message><MessageId>{m.message_id}</MessageId>"
            f"<MessageBodyMD5>{m.body_md5}</MessageBodyMD5></Message>"
            for m in parsed
        )
        return _Response(201, _doc("Messages", items))

    def _receive(self, queue: _Queue, route: _Route) -> _Response:
        batch = route.op == "BatchReceiveMessage"
        count = (
            _int_in(route.params.get("numofmessages"), "numOfMessages", 1, MAX_BATCH)
            if batch
            else 1
        )
        wait_text = route.params.get("waitseconds")
        with queue.cond:
            wait = (
                queue.attrs.polling_wait_seconds
                if wait_text is None
                else _int_in(wait_text, "waitseconds", 0, MAX_WAIT_SECONDS)
            )
            deadline = _now_ms() + wait * 1000
            me = threading.get_ident()
            polling = False
            try:
                while True:
                    if self._stopping.is_set():
                        raise _err("ServiceUnavailable", "The emulator is stopping.")
                    if queue.deleted:
                        raise _err("QueueNotExist")
                    now = _now_ms()
                    taken = queue.take(count, now)
                    if taken:
                        break
                    remaining = deadline - now
                    if remaining <= 0:
                        raise _err("MessageNotExist")
                    if not polling:  # visible to snapshots / wait_for_pollers() from now on
                        polling = True
                        queue.waiters += 1
                        queue.pollers_changed.notify_all()
                    earliest = queue.earliest_pending()
                    if earliest is not None:
                        remaining = min(remaining, max(earliest - now, 1))
                    queue.sleep_plans[me] = now + remaining
                    queue.cond.wait(remaining / 1000 + 0.0005)
                    del queue.sleep_plans[me]
            finally:
                queue.sleep_plans.pop(me, None)
                if polling:
                    queue.waiters -= 1
            items = [_message_xml(m, with_handle=True) for m in taken]
        if batch:
            return _Response(200, _doc("Messages", _wrap_messages(items)))
        return _Response(200, _doc("Message", items[0]))

    def _peek(self, queue: _Queue, route: _Route) -> _Response:
        batch = route.op == "BatchPeekMessage"
        count = (
            _int_in(route.params.get("numofmessages"), "numOfMessages", 1, MAX_BATCH)
            if batch
            else 1
        )
        with queue.cond:
            found = queue.peek(count, _now_ms())
            items = [_message_xml(m, with_handle=False) for m in found]
        if not items:
            raise _err("MessageNotExist")
        if batch:
            return _Response(200, _doc("Messages", _wrap_messages(items)))
        return _Response(200, _doc("Message", items[0]))

    def _delete(self, queue: _Queue, route: _Route) -> _Response:
        handle = route.params.get("receipthandle", "")
        if not handle:
            raise _err("MissingReceiptHandle", "ReceiptHandle is required.")
        with queue.cond:
            queue.remove(queue.by_handle(handle, _now_ms()))
        return _NO_CONTENT

    def _batch_delete(self, queue: _Queue, route: _Route) -> _Response:
        root = route.xml
        handles = (
            [child.text or "" for child in root if _local(child.tag) == "ReceiptHandle"]
            if root is not None
            else []
        )
        if not 1 <= len(handles) <= MAX_BATCH:
            raise _invalid(f"The count of receipt handles should between 1 and {MAX_BATCH}.")
        errors: list[str] = []
        with queue.cond:
            now = _now_ms()
            for handle in handles:
                try:
                    queue.remove(queue.by_handle(handle.strip(), now))
                except _MnsError as exc:
                    errors.append(
                        "<Error>"
                        + _el("ErrorCode", exc.code)
                        + _el("ErrorMessage", exc.message)
                        + _el("ReceiptHandle", handle)
                        + "</Error>"
                    )
        if errors:
            return _Response(404, _doc("Errors", "".join(errors)))
        return _NO_CONTENT

    def _change_visibility(self, queue: _Queue, route: _Route) -> _Response:
        handle = route.params.get("receipthandle", "")
        if not handle:
            raise _err("MissingReceiptHandle", "ReceiptHandle is required.")
        timeout_text = route.params.get("visibilitytimeout")
        if timeout_text is None or timeout_text == "":
            raise _err("MissingVisibilityTimeout", "VisibilityTimeout is required.")
        # The API doc says 1..43200; the SDK allows 0 and "make visible now" is useful.
        timeout = _int_in(timeout_text, "VisibilityTimeout", 0, 43200)
        with queue.cond:
            now = _now_ms()
            msg = queue.by_handle(handle, now)
            msg.gen += 1
            msg.visible_at = now + timeout * 1000
            msg.handle = _new_handle(msg.message_id)
            queue.schedule(msg)
            inner = _el("ReceiptHandle", msg.handle) + _el("NextVisibleTime", msg.visible_at)
        return _Response(200, _doc("ChangeVisibility", inner))


# --------------------------------------------------------------------------- routing


def _validate_queue_name(name: str) -> None:
    if not 1 <= len(name) <= 256:
        raise _err("QueueNameLengthError", "The length of queue name should between 1 and 256.")
    if not _QUEUE_NAME_RE.match(name):
        raise _err(
            "InvalidQueueName",
            "The queue name you provided is invalid: start with a letter, then letters, "
            "digits or '-'.",
        )


def _parse_queue_attrs(root: ET.Element | None, base: _QueueAttrs) -> _QueueAttrs:
    attrs = replace(base)
    if root is None:
        return attrs
    for tag, element in _children(root).items():
        if tag in _ATTR_SPEC:
            attr, low, high = _ATTR_SPEC[tag]
            setattr(attrs, attr, _int_in(element.text, tag, low, high))
        elif tag == "LoggingEnabled":
            value = (element.text or "").strip().lower()
            if value not in ("true", "false"):
                raise _invalid("The value of LoggingEnabled should be True or False.")
            attrs.logging_enabled = value == "true"
    return attrs


def _route(method: str, raw_uri: str, body: bytes) -> _Route:
    """Map method + raw URI (+ body root for POST) to an MNS operation name."""
    path, _, query = raw_uri.partition("?")
    params = _parse_query(query)
    parts = path.split("/")
    xml: ET.Element | None = None
    xml_error = False
    if body.strip():
        try:
            xml = ET.fromstring(body)
        except ET.ParseError:
            xml_error = True
    op: str | None = None
    queue = ""
    if len(parts) == 2 and parts[1] == "queues" and method == "GET":
        op = "ListQueue"
    elif len(parts) == 3 and parts[1] == "queues" and parts[2]:
        queue = unquote(parts[2])
        if method == "PUT":
            op = "SetQueueAttributes" if params.get("metaoverride") == "true" else "CreateQueue"
        else:
            op = {"GET": "GetQueueAttributes", "DELETE": "DeleteQueue"}.get(method)
    elif len(parts) == 4 and parts[1] == "queues" and parts[2] and parts[3] == "messages":
        queue = unquote(parts[2])
        if method == "POST":
            is_batch = xml is not None and _local(xml.tag) == "Messages"
            op = "BatchSendMessage" if is_batch else "SendMessage"
        elif method == "GET":
            batch = "numofmessages" in params
            if params.get("peekonly", "").lower() == "true":
                op = "BatchPeekMessage" if batch else "PeekMessage"
            else:
                op = "BatchReceiveMessage" if batch else "ReceiveMessage"
        elif method == "DELETE":
            op = "DeleteMessage" if "receipthandle" in params else "BatchDeleteMessage"
        elif method == "PUT":
            op = "ChangeMessageVisibility"
    if op is None:
        raise _err(
            "InvalidRequestURL",
            f"Http request URL format invalid (the emulator serves queue APIs only): "
            f"{method} {path}",
        )
    return _Route(op, queue, params, xml, xml_error)


# --------------------------------------------------------------------------- CLI


def serve_forever_cli(
    port: int,
    queue: str,
    *,
    host: str = "127.0.0.1",
    access_key_id: str = "sandbox-ak",
    access_key_secret: str = "sandbox-secret",
    security_token: str | None = None,
    visibility_timeout: int = 30,
    polling_wait_seconds: int = 0,
    out: IO[str] | None = None,
    stop_event: threading.Event | None = None,
    on_ready: Callable[[MnsEmulator], None] | None = None,
) -> None:
    """Run an emulator with one queue until Ctrl-C/SIGTERM (or ``stop_event``).

    Backs ``vodhook sandbox mns``: prints shell ``export`` lines that point vodhook (and
    anything using ALIBABA_CLOUD_* credentials) at the emulator.
    """
    stream = out if out is not None else sys.stdout
    stop = stop_event if stop_event is not None else threading.Event()
    emulator = MnsEmulator(host, port, access_key_id, access_key_secret, security_token)
    emulator.create_queue(
        queue, visibility_timeout=visibility_timeout, polling_wait_seconds=polling_wait_seconds
    )

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    emulator.start()
    try:
        for line in _env_lines(emulator, queue):
            print(line, file=stream)
        print(
            f"# MNS emulator serving queue {queue!r} at {emulator.endpoint}; "
            "Ctrl-C or SIGTERM to stop",
            file=stream,
            flush=True,
        )
        if on_ready is not None:
            on_ready(emulator)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _env_lines(emulator: MnsEmulator, queue: str) -> Iterable[str]:
    settings = [
        ("VODHOOK_MNS_ENDPOINT", emulator.endpoint),
        ("VODHOOK_MNS_QUEUE", queue),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator.access_key_id),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", emulator.access_key_secret),
    ]
    if emulator.security_token is not None:
        settings.append(("ALIBABA_CLOUD_SECURITY_TOKEN", emulator.security_token))
    return [f"export {name}={shlex.quote(value)}" for name, value in settings]
