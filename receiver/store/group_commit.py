"""Group commit: every write of the service goes through here.

Sources submit deliveries, the dispatcher submits its claims and journal writes; all the
ops that arrive in one event-loop turn (or while the previous batch commits) form one
transaction. So one fsync covers many events, and the dispatcher's bookkeeping rides
along with the intake's inserts instead of paying for its own commits.

The ops run on the loop thread. The COMMIT, where SQLite waits for the fsync, can run on
a thread (`threaded`, VODHOOK_COMMIT_THREAD): the sqlite3 module releases the GIL while it
waits, so the loop could go on with the next requests. The service leaves it off: on a
local disk it measured slower (bench/: 0.45 against 0.50 of bare at FULL), as all the
requests in flight are usually waiting on that one commit. Running whole batches on the
thread was slower still (the GIL went back and forth on every insert).

Each caller awaits its own op's future, so "acknowledged" and "journaled" still mean
"committed". A batch either commits whole or fails whole with StoreUnavailable.

A commit has a fixed cost (bench/: about 40 µs of CPU at NORMAL, 110 µs at FULL, and at
FULL the loop waits 0.2-1 ms for the disk), so the batch size decides much of the
per-event cost. When `expected_requests` says more HTTP requests are being handled, or
about to be sent by clients answered a moment ago, than have submitted, the commit waits
for them, up to MAX_WAIT, as PostgreSQL's commit_delay waits for commit_siblings: it is
re-checked on every submit, so it ends as soon as they are all in. Measured under wrk -c32
at FULL: commits of a median 11 events without it, the whole 32 with it (bench/).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from typing import Any

from receiver.store.base import Delivery, EventStore, Op, Stored, StoreUnavailable

MAX_WAIT = 0.001  # seconds a commit waits for the requests it expects
Pending = tuple[Op, "asyncio.Future[Any]", bool]  # op, its future, submitted by a request


class GroupCommit:
    def __init__(
        self,
        store: EventStore,
        max_batch: int = 256,
        on_commit: Callable[[int], None] | None = None,
        threaded: bool = True,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.on_commit = on_commit
        # Told about each newly stored delivery that carries its typed event.
        self.on_stored: Callable[[int, Any], None] | None = None
        self._writer = (
            concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="vodhook-commit"
            )
            if threaded
            else None
        )
        # Requests being handled now (the HTTP protocol counts them); None: do not wait.
        self.expected_requests: Callable[[], int] | None = None
        self._pending: list[Pending] = []
        self._pending_requests = 0
        self._wait_started: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        self._scheduled = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- submitting -------------------------------------------------------------------------
    def _enqueue(
        self, op: Op, loop: asyncio.AbstractEventLoop, request: bool = False
    ) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            self._idle.clear()
        self._pending.append((op, fut, request))
        self._pending_requests += request
        if not self._busy and not self._scheduled:
            # call_soon, not now: everything else that runs in this loop turn joins the batch.
            self._scheduled = True
            self._loop = loop
            loop.call_soon(self._send)
        elif request and self._timer is not None and not self._waiting_for_more():
            # Everything the commit was waiting for is here: commit now, not at the timer.
            self._timer.cancel()
            self._timer = None
            loop.call_soon(self._send)
        return fut

    def _waiting_for_more(self) -> bool:
        expected = self.expected_requests
        return expected is not None and self._pending_requests < expected()

    async def run(self, op: Op) -> Any:
        """Commit one op; its result, or StoreUnavailable."""
        return await self._enqueue(op, asyncio.get_running_loop())

    async def run_all(self, ops: Sequence[Op]) -> list[Any]:
        """Commit several ops together (same batch unless it is full)."""
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*[self._enqueue(op, loop) for op in ops]))

    async def submit(self, delivery: Delivery) -> Stored:
        """Store one delivery durably; raises StoreUnavailable when the commit failed."""
        stored: Stored = await self.submit_nowait(delivery, asyncio.get_running_loop())
        self.notify_stored(delivery, stored)
        return stored

    def submit_nowait(
        self, delivery: Delivery, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[Stored]:
        """submit() for callers without a coroutine (the HTTP protocol): the future's
        callback answers, and must call notify_stored() with its result."""
        return self._enqueue(self.store.op_insert(delivery), loop, request=True)

    def notify_stored(self, delivery: Delivery, stored: Stored) -> None:
        if self.on_stored is not None and delivery.event is not None and not stored.duplicate:
            self.on_stored(stored.event_id, delivery.event)

    async def submit_many(self, deliveries: Sequence[Delivery]) -> list[Stored | Exception]:
        """For batch sources (MNS): one result per delivery, Stored or the exception.

        One op for the whole batch: a future per message cost more than its insert.
        """
        loop = asyncio.get_running_loop()
        try:
            stored: list[Stored] = await self._enqueue(self.store.op_insert_many(deliveries), loop)
        except Exception as exc:  # the batch's transaction failed: every delivery with it
            return [exc for _ in deliveries]
        for delivery, one in zip(deliveries, stored, strict=True):
            self.notify_stored(delivery, one)
        return list(stored)

    async def close(self) -> None:
        """Commit what is pending, then stop the commit thread."""
        await self._idle.wait()
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    # -- the writer -------------------------------------------------------------------------
    def _send(self) -> None:
        self._scheduled = False
        self._timer = None
        if self._busy or not self._pending:
            return
        if self._loop is not None and self._waiting_for_more():
            now = time.monotonic()
            if self._wait_started is None:
                self._wait_started = now
            left = self._wait_started + MAX_WAIT - now
            if left > 0:
                self._scheduled = True
                self._timer = self._loop.call_later(left, self._send)
                return
        self._wait_started = None
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._pending_requests -= sum(request for _, _, request in batch)
        self._busy = True
        ops = [op for op, _, _ in batch]
        store = self.store
        try:
            results = store.apply_ops(ops)
        except Exception as exc:
            self._committed(batch, None, exc)
            return
        if self._writer is None:
            try:
                store.commit()
            except Exception as exc:
                self._committed(batch, None, exc)
            else:
                self._committed(batch, results, None)
            return
        loop = self._loop
        assert loop is not None
        work = self._writer.submit(store.commit)
        work.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._collect, batch, results, done)
        )

    def _collect(
        self, batch: list[Pending], results: list[Any], done: concurrent.futures.Future[Any]
    ) -> None:
        error = done.exception()
        self._committed(batch, None if error else results, error)

    def _committed(
        self,
        batch: list[Pending],
        results: list[Any] | None,
        error: BaseException | None,
    ) -> None:
        self._busy = False
        if error is not None or results is None:
            failure = (
                error
                if isinstance(error, StoreUnavailable)
                else StoreUnavailable(f"store write failed: {error!r}")
            )
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(failure)
        else:
            fresh = 0
            for (_, fut, _), result in zip(batch, results, strict=True):
                if isinstance(result, Stored):
                    fresh += not result.duplicate
                elif type(result) is list:  # op_insert_many
                    fresh += sum(isinstance(r, Stored) and not r.duplicate for r in result)
                if not fut.done():
                    fut.set_result(result)
            if fresh and self.on_commit is not None:
                self.on_commit(fresh)
        if self._pending:
            # Yield to the loop between batches so that requests keep flowing.
            if not self._scheduled and self._loop is not None:
                self._scheduled = True
                self._loop.call_soon(self._send)
        else:
            self._idle.set()
