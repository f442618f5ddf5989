"""Workers: claim stored events, run their handlers, record what happened.

Guarantees, and where they come from:
- per-media order: the store's claim query never hands out an event while an older event of
  the same media is still open, so same-media events run one at a time in received order
  (a retrying event holds back the later events of its media until it is done or dead);
- only unfinished handlers re-run: each handler's success is journaled right after it runs;
- a crash loses nothing: claimed events carry a lease, renewed while they run, and an
  expired lease puts the event back in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from receiver.backoff import retry_delay
from receiver.deadlines import Deadlines
from receiver.dispatch.context import HandlerContext
from receiver.dispatch.pressure import IntakePressure
from receiver.dispatch.router import CallNext, Middleware, Route, RouteTable
from receiver.errors import PermanentError
from receiver.events import EventParseError, VodEvent, parse_event_bytes
from receiver.logs import SCRUBBER, get_logger
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store import EventRecord, EventStore, GroupCommit, Op, Status

IDLE_POLL = 1.0  # seconds between looks at the store when nothing announced new work
TYPED_CACHE_SIZE = 4096  # typed events kept from intake for the dispatcher


def describe_error(exc: BaseException) -> str:
    """One line for the journal: type and message, with every known secret scrubbed."""
    text = str(exc) or repr(exc)
    return SCRUBBER.scrub(f"{type(exc).__name__}: {text}")[:2000]


class Dispatcher:
    def __init__(
        self,
        store: EventStore,
        writer: GroupCommit,
        table: RouteTable,
        settings: Settings,
        metrics: Metrics,
        vod: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.writer = writer
        self.table = table
        self.settings = settings
        self.metrics = metrics
        self.vod = vod
        self.clock = clock
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="vodhook-handler"
        )
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._backlog = False
        self.pressure = IntakePressure(window=max(0.1, 2 * settings.poll_interval))
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_renewal = 0.0
        self._last_reclaim = 0.0
        self._interrupted: list[int] = []
        self._deadlines = Deadlines(
            settings.handler_timeout, tick=min(0.25, settings.handler_timeout / 4)
        )
        self._runs: dict[str, tuple[Any, Any]] = {}
        self._typed: dict[int, VodEvent] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vodhook-dispatcher")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let running events finish, then release whatever is left."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self.in_flight:
            _done, pending = await asyncio.wait(list(self.in_flight.values()), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._interrupted:
            # Hand interrupted events back now instead of waiting for their leases.
            now = self.clock()
            await self.writer.run_all(
                [
                    self.store.op_set_status(i, Status.RETRYING, "interrupted by shutdown", now)
                    for i in self._interrupted
                ]
            )
        self._pool.shutdown(wait=False, cancel_futures=True)

    def remember(self, event_id: int, event: VodEvent) -> None:
        """The intake's typed event, so that processing need not parse the body again.

        Bounded: under a backlog the oldest entries go, and those events are parsed anew.
        """
        self._typed[event_id] = event
        if len(self._typed) > TYPED_CACHE_SIZE:
            del self._typed[next(iter(self._typed))]

    def notify(self, count: int = 1) -> None:
        """New work was stored. Wake-ups are batched so a burst of commits costs one claim."""
        self.pressure.stored()
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        if self._timer is None and not self._stopping:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.settings.poll_interval, self._wake_now)

    def _wake_now(self) -> None:
        self._timer = None
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        log = get_logger(component="dispatcher")
        while not self._stopping:
            try:
                timeout = await self._tick()
            except Exception as exc:  # the store may be briefly locked or gone; keep going
                log.error("dispatch_tick_failed", error=describe_error(exc))
                timeout = IDLE_POLL
            if timeout > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _tick(self) -> float:
        """Claim what fits; return how long to wait before the next look."""
        now = self.clock()
        lease = self.settings.lease_seconds
        if self.in_flight and now - self._last_renewal > lease / 3:
            await self.writer.run(self.store.op_renew_leases(list(self.in_flight), now + lease))
            self._last_renewal = now
        if now - self._last_reclaim > lease / 2:
            # Ours from before a crash, or another process's whose worker died.
            reclaimed = await self.writer.run(self.store.op_reclaim_stale(now))
            if reclaimed:
                get_logger(component="dispatcher").warning(
                    "reclaimed_stale_events", count=reclaimed
                )
            self._last_reclaim = now
        free = self.settings.workers - len(self.in_flight)
        claimed: list[EventRecord] = []
        if free > 0:
            claimed = await self.writer.run(self.store.op_claim(free, now, now + lease))
            for record in claimed:
                task = asyncio.create_task(self._process(record))
                self.in_flight[record.id] = task
                task.add_done_callback(functools.partial(self._finished, record.id))
        # A full claim means more may be waiting: refill as soon as a worker frees up.
        self._backlog = free > 0 and len(claimed) == free
        self._update_gauges()
        due = self.store.next_due()
        if due is None:
            return IDLE_POLL
        return min(IDLE_POLL, max(self.settings.poll_interval, due - now))

    def _finished(self, event_id: int, _task: asyncio.Task[None]) -> None:
        self.in_flight.pop(event_id, None)
        if self._stopping:
            return
        # A finished event may unblock the next one of its media; with a backlog, refill now,
        # unless intake needs the CPU (pressure.py): then at the next batched wake-up.
        if self._backlog and not self.pressure.pressed:
            self._wake.set()
        else:
            self._schedule_wake()

    def _update_gauges(self) -> None:
        self.metrics.in_flight.set(len(self.in_flight))

    # -- one event --------------------------------------------------------------------------
    async def _process(self, record: EventRecord) -> None:
        log = get_logger(event_id=record.id, event_type=record.event_type, media_id=record.media_id)
        try:
            await self._run_handlers(record, log)
        except asyncio.CancelledError:
            self._interrupted.append(record.id)  # released by stop()
            raise
        except Exception as exc:  # a bug of ours or a store failure; the lease covers us
            log.error("event_processing_failed", error=describe_error(exc))
            with contextlib.suppress(Exception):
                at = self.clock() + self.settings.retry_base
                await self.writer.run(
                    self.store.op_set_status(record.id, Status.RETRYING, describe_error(exc), at)
                )

    async def _run_handlers(self, record: EventRecord, log: Any) -> None:
        store = self.store
        try:
            event = self._typed.pop(record.id, None) or parse_event_bytes(record.body)[0]
        except EventParseError as exc:
            await self.writer.run(
                store.op_set_status(record.id, Status.DEAD, f"unparseable body: {exc.reason}")
            )
            self.metrics.dead.labels(handler="(parse)").inc()
            return
        routes = self.table.for_event(event)
        journal = store.journal(record.id)
        results: dict[str, Any] = {}
        failures: list[tuple[str, BaseException]] = []
        permanent = False
        # A handler's journal entry commits before the next handler starts; the last one
        # commits together with the event's final status (one transaction fewer per event).
        unsaved: Op | None = None
        for route in routes:
            previous = journal.get(route.name)
            if previous is not None and previous.status == "done":
                results[route.result_key] = previous.result
                continue
            if unsaved is not None:
                await self.writer.run(unsaved)
                unsaved = None
            ctx = HandlerContext(
                event=event,
                event_id=record.id,
                attempt=record.attempts,
                source=record.source,
                log=log.bind(handler=route.name),
                settings=self.settings,
                results=dict(results),
                options=route.options,
                vod=self.vod,
                handler=route.name,
            )
            try:
                result = await self._call(route, ctx)
            except Exception as exc:
                permanent |= isinstance(exc, PermanentError)
                failures.append((route.name, exc))
                self._counters(route.name)[1].inc()
                error = describe_error(exc)
                unsaved = store.op_record_handler(
                    record.id, route.name, False, error=error, attempt=record.attempts
                )
                ctx.log.warning("handler_failed", attempt=record.attempts, error=error)
            else:
                results[route.result_key] = result
                self._counters(route.name)[0].inc()
                unsaved = store.op_record_handler(
                    record.id, route.name, True, result=result, attempt=record.attempts
                )
        final = self._verdict(record, failures, permanent, log)
        await self.writer.run_all([unsaved, final] if unsaved is not None else [final])

    def _counters(self, handler: str) -> tuple[Any, Any]:
        """Prometheus children per handler, looked up once (labels() costs on a hot path)."""
        pair = self._runs.get(handler)
        if pair is None:
            runs = self.metrics.handler_runs
            pair = self._runs[handler] = (
                runs.labels(handler, "processed"),
                runs.labels(handler, "failed"),
            )
        return pair

    def _verdict(
        self,
        record: EventRecord,
        failures: list[tuple[str, BaseException]],
        permanent: bool,
        log: Any,
    ) -> Op:
        """The event's next status: done, retrying with backoff, or dead."""
        if not failures:
            return self.store.op_set_status(record.id, Status.DONE)
        summary = "; ".join(f"{name}: {describe_error(exc)}" for name, exc in failures)
        age = self.clock() - record.received_at
        if permanent:
            why = "permanent error"
        elif record.attempts >= self.settings.max_attempts:
            why = f"gave up after {record.attempts} attempts"
        elif age >= self.settings.max_age:
            why = f"gave up after {age:.0f} s"
        else:
            delay = retry_delay(record.attempts, self.settings.retry_base, self.settings.retry_cap)
            return self.store.op_set_status(
                record.id, Status.RETRYING, summary, self.clock() + delay
            )
        for name, _ in failures:
            self.metrics.dead.labels(handler=name).inc()
        log.error("event_dead", attempts=record.attempts, reason=why, errors=summary)
        return self.store.op_set_status(record.id, Status.DEAD, f"{why}: {summary}")

    async def _call(self, route: Route, ctx: HandlerContext) -> Any:
        async def base(c: HandlerContext) -> Any:
            if route.is_async:
                return await route.func(c)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, route.func, c)

        call: CallNext = base
        for middleware in reversed(route.middleware):
            call = _wrap(middleware, call)
        task = asyncio.current_task()
        assert task is not None
        self._deadlines.begin(task, asyncio.get_running_loop())
        try:
            return await call(ctx)
        except asyncio.CancelledError:
            if self._deadlines.expired(task):
                raise TimeoutError(
                    f"handler ran longer than {self.settings.handler_timeout:g} s"
                ) from None
            raise
        finally:
            self._deadlines.end(task)


def _wrap(middleware: Middleware, call_next: CallNext) -> CallNext:
    async def call(ctx: HandlerContext) -> Any:
        return await middleware(ctx, call_next)

    return call


def event_of(record: EventRecord) -> VodEvent:
    """Parse a stored record's body (for the CLI and tests)."""
    return parse_event_bytes(record.body)[0]
