"""The MNS worker process: every call to the aliyun-mns-sdk, and nothing else.

Why a process: the SDK is synchronous and spends ~100 µs of Python per message building
requests and parsing XML. On threads beside the service's event loop, those calls and the
loop's typing and storing shared one GIL, and the SDK's share cost 1.3-1.6x the CPU it
costs alone (bench/, issue 5). Here the SDK runs as it would in a plain loop, and the
service only receives bodies and sends back which receipt handles to delete.

The worker talks to its parent (sources/mns.py) over stdin/stdout in length-prefixed
frames (`multiprocessing.connection` framing, orjson inside):
  parent -> worker: the config (with the credentials: never in argv or the environment
                    of a `ps` listing), then ["done", batch, [handles to delete],
                    [handles to release]] per batch, and ["stop"].
  worker -> parent: ["batch", batch, [[handle, body, message_id, enqueue_ms], ...]],
                    ["finished", count], ["poll_error", kind, failures, retry_in, detail],
                    ["delete_error", kind, count], ["release_error", kind, message_id].
The parent logs and counts what the worker reports, and scrubs secrets from it.

A message is deleted only after the parent says its event is committed. If the parent
dies, the worker dies with it (PR_SET_PDEATHSIG, or EOF on stdin); messages it had
received come back after their visibility timeout and are recognised as duplicates.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Any, Protocol

import orjson
from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSExceptionBase, MNSServerException

from receiver.backoff import retry_delay

# Configuration errors: retrying soon will not help, so they back off to the cap at once.
FATAL_CODES = frozenset(
    {"QueueNotExist", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
)
# MNS answers an empty long poll with MessageNotExist. Above its long-poll cap it answers
# at once; an "empty" answer much faster than the wait is treated as a fault to back off from.
EMPTY_FRACTION = 0.5
RELEASE_VISIBILITY = 2  # seconds until an unstored message is offered again


def classify(exc: BaseException) -> str:
    """A short, secret-free kind for metrics and logs."""
    if isinstance(exc, MNSServerException):
        return str(exc.type)
    if isinstance(exc, MNSClientNetworkException):
        return "network"
    if isinstance(exc, MNSExceptionBase):
        return str(exc.type)
    return type(exc).__name__


class Pipe(Protocol):
    def poll(self, timeout: float = 0.0) -> bool: ...
    def recv_bytes(self) -> bytes: ...
    def send_bytes(self, data: bytes) -> None: ...


class Worker:
    """One poller: receive a batch, hand it over, delete what the parent says is stored."""

    def __init__(self, conn: Pipe, config: dict[str, Any]) -> None:
        self.conn = conn
        self.wait_seconds = int(config["wait_seconds"])
        self.batch_size = int(config["batch_size"])
        self.error_backoff = float(config["error_backoff"])
        self.error_backoff_cap = float(config["error_backoff_cap"])
        self.depth = int(config["depth"])
        account = Account(
            config["endpoint"],
            config["access_key_id"],
            config["access_key_secret"],
            config.get("security_token", ""),
        )
        # A socket timeout below the long-poll wait would abandon polls the server still
        # serves, and the messages it hands to the dead socket stay invisible for a whole VT.
        account.mns_client.set_connection_timeout(self.wait_seconds + 15)
        self.queue = account.get_queue(config["queue"])
        self.queue.set_encoding(False)  # the parent decodes: a poison body must not break a batch
        self.outstanding: deque[int] = deque()  # batches handed over, not yet answered
        self.batches = 0
        self.stopping = False

    def send(self, frame: list[Any]) -> None:
        self.conn.send_bytes(orjson.dumps(frame))

    def run(self) -> None:
        failures = 0
        while True:
            # Answers already here are applied before the next long poll; a full pipeline,
            # or a stop with batches still unanswered, waits for them.
            while (
                self.conn.poll(0)
                or len(self.outstanding) >= self.depth
                or (self.stopping and self.outstanding)
            ):
                self.command(orjson.loads(self.conn.recv_bytes()))
            if self.stopping:
                return
            failures = self.receive(failures)

    def receive(self, failures: int) -> int:
        started = time.monotonic()
        try:
            messages = self.queue.batch_receive_message(self.batch_size, self.wait_seconds)
        except MNSServerException as exc:
            # A real empty long poll; one much faster than the wait is a fault.
            waited = time.monotonic() - started
            if exc.type == "MessageNotExist":
                if waited >= self.wait_seconds * EMPTY_FRACTION:
                    return 0
                # Not a failure of MNS but a guard against a hot loop: a short, fixed pause,
                # so that a burst of them does not push the next poll out by minutes.
                return self.back_off(exc, failures, escalate=False)
            return self.back_off(exc, failures)
        except Exception as exc:  # network errors, damaged responses, anything else
            return self.back_off(exc, failures)
        self.batches += 1
        self.outstanding.append(self.batches)
        got = [[m.receipt_handle, m.message_body, m.message_id, m.enqueue_time] for m in messages]
        self.send(["batch", self.batches, got])
        return 0

    def back_off(self, exc: BaseException, failures: int, escalate: bool = True) -> int:
        kind = classify(exc)
        failures += 1
        if kind in FATAL_CODES:
            delay = self.error_backoff_cap
        else:
            attempt = failures if escalate else 1
            delay = retry_delay(attempt, self.error_backoff, self.error_backoff_cap)
        detail = str(getattr(exc, "message", exc))[:300]
        self.send(["poll_error", kind, failures, round(delay, 2), detail])
        # Waiting on the pipe rather than sleeping: a stop, or an answer, cuts the wait short.
        deadline = time.monotonic() + delay
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            if self.conn.poll(left):
                self.command(orjson.loads(self.conn.recv_bytes()))
        return failures

    def command(self, frame: list[Any]) -> None:
        if frame[0] == "stop":
            self.stopping = True
            return
        _, batch, delete, release = frame
        if self.outstanding and self.outstanding[0] == batch:
            self.outstanding.popleft()
        elif batch in self.outstanding:
            self.outstanding.remove(batch)
        self.delete(delete)
        for handle, message_id in release:
            try:
                self.queue.change_message_visibility(handle, RELEASE_VISIBILITY)
            except Exception as exc:
                self.send(["release_error", classify(exc), message_id])
        self.send(["finished", len(delete) + len(release)])

    def delete(self, handles: list[str]) -> None:
        if not handles:
            return
        try:
            self.queue.batch_delete_message(handles)
        except MNSServerException as exc:
            # Usually handles that expired (processing outlived the visibility timeout):
            # those messages come back, are recognised as duplicates and deleted then.
            self.send(["delete_error", str(exc.type), len(exc.sub_errors or []) or len(handles)])
        except Exception as exc:
            self.send(["delete_error", classify(exc), len(handles)])


def _die_with_parent() -> None:
    """Linux: be killed when the parent dies, even by kill -9, instead of polling on."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: EOF on stdin still ends the worker
        pass


def main() -> int:
    _die_with_parent()
    # The frames own stdout: anything printed by a library goes to stderr instead.
    read_fd, write_fd = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    conn_in = Connection(read_fd, writable=False)
    conn_out = Connection(write_fd, readable=False)
    try:
        config = orjson.loads(conn_in.recv_bytes())
    except EOFError:
        return 0
    pipe = _Duplex(conn_in, conn_out)
    try:
        worker = Worker(pipe, config)
        del config  # the secret lives on only inside the SDK's Account
        worker.run()
    except (EOFError, BrokenPipeError):  # the parent is gone: nothing left to report to
        return 0
    except Exception as exc:  # a bug: tell the parent, which logs it scrubbed and restarts us
        with contextlib.suppress(OSError):
            pipe.send_bytes(orjson.dumps(["crash", repr(exc)[:500]]))
        return 1
    return 0


class _Duplex:
    """Two one-way pipes presented as one Connection."""

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self.reader, self.writer = reader, writer

    def poll(self, timeout: float = 0.0) -> bool:
        return self.reader.poll(timeout)

    def recv_bytes(self) -> bytes:
        return self.reader.recv_bytes()

    def send_bytes(self, data: bytes) -> None:
        self.writer.send_bytes(data)


if __name__ == "__main__":
    sys.exit(main())
