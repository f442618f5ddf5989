"""The MNS source: long-poll VOD's event queue and feed the same intake as HTTP.

Each poller is a worker process (sources/mns_worker.py) that makes every call to the
unmodified aliyun-mns-sdk, and a task here that types and stores what it receives and
tells it which messages to delete. Why a process: bench/ and the worker's docstring.
What happens to each message:
- stored (new or duplicate)     -> batch-deleted;
- undecodable / untypeable      -> stored dead with its reason, then deleted;
- the store failed              -> made visible again after a short delay, not deleted.
A worker that dies is started again with backoff; the messages it held come back after
their visibility timeout and are recognised as duplicates.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import struct
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from receiver.backoff import retry_delay
from receiver.logs import SCRUBBER, get_logger
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.sources.delivery import invalid_delivery, to_delivery
from receiver.store import Delivery, GroupCommit, Stored

STORE_TIMEOUT = 30.0
# Batches a worker has received but not yet been answered for. Two let one batch's
# commit and delete overlap the next receive; more only hold messages invisible longer.
PIPELINE_DEPTH = 2
# A worker that ran this long before it died starts again without the backoff it built up.
STEADY_SECONDS = 60.0
WORKER_COMMAND = (sys.executable, "-m", "receiver.sources.mns_worker")


def decode_body(raw: str | bytes) -> tuple[bytes, str | None]:
    """Accept both raw JSON and base64-encoded JSON bodies (VOD's choice is undocumented).

    Returns the JSON bytes and None, or the original bytes and why they are unusable.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        return data, None
    try:
        return base64.b64decode(stripped, validate=True), None
    except (binascii.Error, ValueError):
        return data, "body is neither JSON nor base64-encoded JSON"


def write_frame(pipe: asyncio.StreamWriter | None, frame: Any) -> bool:
    """One frame to a worker; False when the worker is gone (it then needs no answer)."""
    if pipe is None or pipe.is_closing():
        return False
    data = orjson.dumps(frame)
    pipe.write(struct.pack("!i", len(data)) + data)  # multiprocessing.connection framing
    return True


async def read_frame(pipe: asyncio.StreamReader) -> Any:
    """One frame from a worker; asyncio.IncompleteReadError at its end."""
    (size,) = struct.unpack("!i", await pipe.readexactly(4))
    if size == -1:  # frames above 2 GiB: never sent, but part of the framing
        (size,) = struct.unpack("!Q", await pipe.readexactly(8))
    return orjson.loads(await pipe.readexactly(size))


class MnsSource:
    name = "mns"

    def __init__(
        self,
        endpoint: str,
        queue: str,
        intake: GroupCommit,
        metrics: Metrics,
        *,
        access_key_id: str,
        access_key_secret: str,
        security_token: str = "",
        pollers: int = 1,
        wait_seconds: int = 10,
        batch_size: int = 16,
        error_backoff: float = 0.5,
        error_backoff_cap: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.queue_name = queue
        self.intake = intake
        self.metrics = metrics
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.pollers = pollers
        self.wait_seconds = wait_seconds
        self.batch_size = batch_size
        self.error_backoff = error_backoff
        self.error_backoff_cap = error_backoff_cap
        self.log = get_logger(component="mns", queue=queue)
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: dict[int, asyncio.subprocess.Process] = {}
        self._in_flight = 0

    @classmethod
    def from_settings(cls, settings: Settings, service: Any) -> MnsSource:
        if not settings.access_key_id or settings.access_key_secret is None:
            from receiver.service import ConfigError

            raise ConfigError(
                "MNS mode needs ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
            )
        return cls(
            settings.mns_endpoint or "",
            settings.mns_queue or "",
            service.intake,
            service.metrics,
            access_key_id=settings.access_key_id,
            access_key_secret=settings.access_key_secret.get_secret_value(),
            security_token=(
                settings.security_token.get_secret_value() if settings.security_token else ""
            ),
            pollers=settings.mns_pollers,
            wait_seconds=settings.mns_wait_seconds,
            batch_size=settings.mns_batch_size,
        )

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._stopped = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._poller(index), name=f"vodhook-mns-{index}")
            for index in range(self.pollers)
        ]
        self.log.info("mns_started", pollers=self.pollers, wait_seconds=self.wait_seconds)

    async def stop(self) -> None:
        """Stop receiving; a worker finishes its current long poll and stores what it got.

        The event loop must keep running meanwhile: the workers' batches commit through it.
        """
        self._stopping = True
        if self._stopped is not None:
            self._stopped.set()
        for proc in self._workers.values():
            write_frame(proc.stdin, ["stop"])
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.wait_seconds + STORE_TIMEOUT + 5)
            for proc in list(self._workers.values()):
                if proc.returncode is None:
                    proc.kill()
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.log.info("mns_stopped")

    @property
    def alive(self) -> bool:
        return (
            bool(self._tasks)
            and not any(task.done() for task in self._tasks)
            and len(self._workers) == self.pollers
            and all(proc.returncode is None for proc in self._workers.values())
        )

    # -- one poller: a worker process and the task that answers it --------------------------
    async def _poller(self, index: int) -> None:
        """Run a worker; when it dies, start another after a backoff."""
        log = self.log.bind(poller=index)
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            started = loop.time()
            try:
                code: int | None = await self._run_worker(index, log)
            except Exception as exc:  # could not start it, or a bug here: try again
                code = None
                log.error("mns_worker_failed", error=SCRUBBER.scrub(repr(exc)))
            if self._stopping:
                return
            failures = 1 if loop.time() - started > STEADY_SECONDS else failures + 1
            delay = retry_delay(failures, self.error_backoff, self.error_backoff_cap)
            self.metrics.mns_poll_errors.labels("worker_exit").inc()
            log.error("mns_worker_exited", exit_code=code, restart_in=round(delay, 2))
            assert self._stopped is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)

    async def _run_worker(self, index: int, log: Any) -> int | None:
        proc = await asyncio.create_subprocess_exec(
            *WORKER_COMMAND, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._workers[index] = proc
        assert proc.stdout is not None
        held = 0  # messages this worker received and has not yet deleted or released
        storing: set[asyncio.Task[None]] = set()
        try:
            write_frame(proc.stdin, self._worker_config())
            if self._stopping:
                write_frame(proc.stdin, ["stop"])
            while True:
                try:
                    frame = await read_frame(proc.stdout)
                except asyncio.IncompleteReadError:
                    break
                kind = frame[0]
                if kind == "batch":
                    held += len(frame[2])
                    self._track(len(frame[2]))
                    task = asyncio.create_task(self._store(proc, frame[1], frame[2], log))
                    storing.add(task)
                    task.add_done_callback(storing.discard)
                elif kind == "finished":
                    held -= frame[1]
                    self._track(-frame[1])
                else:
                    self._report(frame, log)
            return await proc.wait()
        finally:
            self._workers.pop(index, None)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            self._track(-held)  # what a dead worker held comes back after its VT

    def _worker_config(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "queue": self.queue_name,
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "security_token": self.security_token,
            "wait_seconds": self.wait_seconds,
            "batch_size": self.batch_size,
            "error_backoff": self.error_backoff,
            "error_backoff_cap": self.error_backoff_cap,
            "depth": PIPELINE_DEPTH,
        }

    def _report(self, frame: list[Any], log: Any) -> None:
        """Log and count what a worker reports; its texts are scrubbed of secrets here."""
        kind = frame[0]
        if kind == "poll_error":
            _, error, failures, retry_in, detail = frame
            self.metrics.mns_poll_errors.labels(error).inc()
            log.warning(
                "mns_poll_error",
                kind=error,
                failures=failures,
                retry_in=retry_in,
                detail=SCRUBBER.scrub(str(detail))[:300],
            )
        elif kind == "delete_error":
            _, error, count = frame
            self.metrics.mns_poll_errors.labels(f"delete:{error}").inc()
            log.warning("mns_delete_failed", kind=error, count=count)
        elif kind == "release_error":
            log.warning("mns_release_failed", kind=frame[1], message_id=frame[2])
        elif kind == "crash":
            log.error("mns_worker_crashed", error=SCRUBBER.scrub(str(frame[1]))[:500])
        else:
            log.error("mns_worker_unknown_frame", kind=str(kind)[:50])

    async def _store(
        self, proc: asyncio.subprocess.Process, batch: int, messages: list[Any], log: Any
    ) -> None:
        """Decode, type and store one batch, then tell the worker what to delete."""
        now = time.time()
        self.metrics.mns_messages.labels("received").inc(len(messages))
        oldest = min((m[3] for m in messages if m[3]), default=None)
        if oldest:
            self.metrics.mns_oldest_age.set(max(0.0, now - oldest / 1000))
        deliveries = [self._delivery(body, message_id, now) for _, body, message_id, _ in messages]
        results: Sequence[Stored | Exception]
        try:
            results = await asyncio.wait_for(self.intake.submit_many(deliveries), STORE_TIMEOUT)
        except Exception as exc:  # timed out, or a bug: offer them again soon
            results = [exc for _ in messages]
        delete: list[str] = []
        release: list[list[str]] = []
        outcomes: Counter[str] = Counter()
        failure: Exception | None = None
        for (handle, _, message_id, _), delivery, result in zip(
            messages, deliveries, results, strict=True
        ):
            if isinstance(result, Stored):
                delete.append(handle)
                outcomes[
                    "dead" if delivery.problem else "duplicate" if result.duplicate else "stored"
                ] += 1
                if delivery.problem:
                    log.warning(
                        "mns_poison_message",
                        message_id=message_id,
                        reason=delivery.problem,
                        event_id=result.event_id,
                    )
            else:
                release.append([handle, message_id])
                failure = result
        for outcome, count in outcomes.items():  # once per batch: labels() is not cheap
            self.metrics.mns_messages.labels(outcome).inc(count)
        if failure is not None:
            log.warning("mns_store_failed", error=SCRUBBER.scrub(repr(failure)), count=len(release))
        write_frame(proc.stdin, ["done", batch, delete, release])

    @staticmethod
    def _delivery(raw: str, message_id: str, now: float) -> Delivery:
        body, problem = decode_body(raw)
        if problem is None:
            return to_delivery(body, "mns", now)
        return invalid_delivery(body, "mns", f"invalid|mns|{message_id}", now, problem)

    def _track(self, delta: int) -> None:
        self._in_flight += delta
        self.metrics.mns_in_flight.set(self._in_flight)
