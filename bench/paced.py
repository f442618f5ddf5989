"""An open-loop client: POST at a fixed rate and measure each request's latency.

wrk2 is not packaged, so this stands in for it. Request i is sent at t0 + i/rate whatever happened
to earlier requests: it never waits for a free connection (a new one is opened when every
open one is busy), so a stalled server shows up as latency instead of silently lowering the
rate ("coordinated omission"). Latency runs from the moment the request's task starts
(before any connect) to the last byte of the answer. Keep-alive connections are reused.
Usage as a module: `asyncio.run(paced_run(port, bodies, headers, rate, duration))`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_CONNECTIONS = 64
REQUEST_TIMEOUT = 10.0
# uvicorn closes keep-alive connections idle for 5 s; reusing one it just closed would
# count the client's own stale socket as a failed request, so idle ones are dropped sooner.
MAX_IDLE = 2.0


@dataclass
class PacedResult:
    sent: int = 0
    ok: int = 0
    duplicate: int = 0
    failed: int = 0
    late_starts: int = 0  # requests that could not start within 1 ms of their due time
    connections: int = 0  # open at the end (at most MAX_CONNECTIONS at any time)
    opened: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    failures: dict[str, int] = field(default_factory=dict)  # why, for the failed ones
    achieved_rate: float = 0.0


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def build_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def paced_run(
    port: int,
    bodies: Sequence[bytes],
    headers: dict[str, str],
    rate: float,
    duration: float,
    path: str = "/callback",
) -> PacedResult:
    """Send min(len(bodies), rate*duration) requests at `rate`/s; bounded in time."""
    count = min(len(bodies), int(rate * duration))
    result = PacedResult()
    idle: list[tuple[_Conn, float]] = []  # (connection, when it became idle)
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    async def one(body: bytes) -> None:
        started = time.perf_counter()
        conn = None
        while idle:
            candidate, since = idle.pop()
            if started - since < MAX_IDLE:
                conn = candidate
                break
            candidate.close()
            result.connections -= 1
        try:
            if conn is None:
                if result.connections >= MAX_CONNECTIONS:
                    result.failed += 1
                    result.failures["too_many_connections"] = (
                        result.failures.get("too_many_connections", 0) + 1
                    )
                    return
                result.connections += 1
                result.opened += 1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                conn = _Conn(reader, writer)
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, answer = await conn.post(build_request(port, path, body, headers))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            result.failed += 1
            why = type(exc).__name__
            result.failures[why] = result.failures.get(why, 0) + 1
            if conn is not None:
                conn.close()
            return
        done = time.perf_counter()
        idle.append((conn, done))
        if status == 200:
            if b"duplicate" in answer:
                result.duplicate += 1
            else:
                result.ok += 1
            result.latencies.append(done - started)
        else:
            result.failed += 1
            why = f"http_{status}"
            result.failures[why] = result.failures.get(why, 0) + 1

    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    t0 = time.perf_counter() + 0.05
    for i in range(count):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.001:
            result.late_starts += 1
        task = loop.create_task(one(bodies[i]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.sent += 1
    if tasks:
        await asyncio.wait(list(tasks), timeout=REQUEST_TIMEOUT + 1)
    elapsed = time.perf_counter() - t0
    result.achieved_rate = result.sent / elapsed if elapsed > 0 else 0.0
    for conn, _ in idle:
        conn.close()
    return result


def run_paced(
    port: int, bodies: Sequence[bytes], headers: dict[str, str], rate: float, duration: float
) -> PacedResult:
    try:
        import uvloop

        return uvloop.run(paced_run(port, bodies, headers, rate, duration))
    except ImportError:
        return asyncio.run(paced_run(port, bodies, headers, rate, duration))
