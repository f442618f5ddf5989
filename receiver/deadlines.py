"""Cheap time limits for hot paths."""

from __future__ import annotations

import asyncio
from typing import Any


class Deadlines:
    """One sweep timer for many tasks with the same time limit, instead of a timeout each.

    Measured (bench/): `async with asyncio.timeout()` costs about 7 µs per use, some 10% of
    the whole intake path. Here a task costs two dict operations; a sweep every `tick`
    seconds, armed only while tasks are registered, cancels the overdue ones. So a task
    times out between `timeout` and `timeout + tick` seconds after it began.
    Used for handler calls (dispatch/dispatcher.py); request bodies are timed by the HTTP
    protocol instead (sources/http_protocol.py).
    """

    def __init__(self, timeout: float, tick: float = 0.25) -> None:
        self.timeout = timeout
        self.tick = tick
        self._reading: dict[asyncio.Task[Any], float] = {}
        # task -> its cancellation count before this class cancelled it
        self._expired: dict[asyncio.Task[Any], int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def begin(self, task: asyncio.Task[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._reading[task] = loop.time() + self.timeout
        if self._timer is None:
            self._timer = loop.call_later(self.tick, self._sweep, loop)

    def end(self, task: asyncio.Task[Any]) -> None:
        self._reading.pop(task, None)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """True (once) when `task` was cancelled by this class and by nobody else
        (as asyncio.timeout decides whether a cancellation becomes its TimeoutError)."""
        before = self._expired.pop(task, None)
        if before is None:
            return False
        return task.uncancel() <= before

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        overdue = [task for task, deadline in self._reading.items() if deadline <= now]
        for task in overdue:
            del self._reading[task]
            self._expired[task] = task.cancelling()
            task.cancel()
        self._timer = loop.call_later(self.tick, self._sweep, loop) if self._reading else None
