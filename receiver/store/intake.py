"""Group commit: every delivery that arrives in one event-loop turn shares one transaction.

Why on the loop thread and not a writer thread: measured, the hand-off to a thread cost more
than the commit itself (see bench/). A source awaits `submit()` and acknowledges only after
its future resolves, so an acknowledgement always means "committed".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from receiver.store.base import Delivery, EventStore, Stored, StoreUnavailable


class Intake:
    def __init__(
        self,
        store: EventStore,
        max_batch: int = 256,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._pending: list[tuple[Delivery, asyncio.Future[Stored]]] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _enqueue(
        self, delivery: Delivery, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[Stored]:
        fut: asyncio.Future[Stored] = loop.create_future()
        self._pending.append((delivery, fut))
        if not self._scheduled:
            self._scheduled = True
            self._loop = loop
            loop.call_soon(self._flush)
        return fut

    async def submit(self, delivery: Delivery) -> Stored:
        """Store one delivery durably; raises StoreUnavailable when the commit failed."""
        return await self._enqueue(delivery, asyncio.get_running_loop())

    async def submit_many(self, deliveries: Sequence[Delivery]) -> list[Stored | Exception]:
        """For batch sources (MNS): every result, or the exception for that delivery.

        Gathers the futures themselves rather than one submit() task per delivery.
        """
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *[self._enqueue(d, loop) for d in deliveries], return_exceptions=True
        )
        out: list[Stored | Exception] = []
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r
            out.append(r)
        return out

    def _flush(self) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if self._pending and self._loop is not None:
            self._loop.call_soon(self._flush)
        else:
            self._scheduled = False
        live = [(d, f) for d, f in batch if not f.cancelled()]
        if not live:
            return
        try:
            results = self.store.insert_many([d for d, _ in live])
        except Exception as exc:  # any store failure means "not acknowledged"
            error = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(str(exc))
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(error)
            return
        fresh = 0
        for (_, fut), stored in zip(live, results, strict=True):
            fresh += not stored.duplicate
            if not fut.done():
                fut.set_result(stored)
        if fresh and self.on_commit is not None:
            self.on_commit(fresh)
