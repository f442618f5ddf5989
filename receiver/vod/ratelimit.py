"""Client-side rate limits for VOD API calls: one leaky bucket per action, per VodClient.

Why client-side: VOD throttles per account (all processes and RAM users together) and answers
an excess call with 503 Throttling. A backlog (a burst of uploads, a replay of dead events)
would otherwise turn into a storm of throttled calls and retries. Pacing every call through
a bucket keeps each action at or below its QPS, so the backlog drains at the highest rate VOD
accepts and nothing is wasted on throttled attempts.

Bucket shape: capacity 1 ("burst" 1), refilled at the action's rate. Such a bucket admits
calls at least 1/rate apart, so any 1-second window holds at most `rate` calls, whereas a
capacity-`rate` bucket would admit up to 2 x rate calls in the second a backlog starts
(a full bucket, then a full refill). Nothing is lost by this: a lone call still goes out at
once, and sustained throughput is the same; only simultaneous calls are spread 1/rate apart
(2.8 ms at 360/s, 67 ms at 15/s).

Retries go through the bucket too: a retried call is a call.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiolimiter import AsyncLimiter

from receiver.vod.qps import DEFAULT_KEY, effective_qps

# VOD counts calls as they arrive. Calls paced exactly at the cap here arrive bunched by
# network and thread jitter: the bench saw 103 arrivals in one second at a cap of 100. So
# the buckets pace at 95 % of the cap, which kept every 1 s window at or under it.
PACING_HEADROOM = 0.95


class RateLimits:
    """The per-action buckets of one VodClient (one per process, shared by every handler).

    Buckets are created on first use, inside the running event loop, because an
    aiolimiter bucket belongs to the loop it first waits in.
    """

    def __init__(self, overrides: Mapping[str, float] | None = None, *, burst: int = 1) -> None:
        rates = effective_qps(overrides)
        self._default = rates.pop(DEFAULT_KEY, None)
        self._rates = rates
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.burst = burst
        self._buckets: dict[str, AsyncLimiter] = {}

    def rate(self, action: str) -> float | None:
        """Calls per second allowed for `action`, or None when it is not limited."""
        return self._rates.get(action, self._default)

    def rates(self) -> dict[str, float]:
        """Every configured limit (the "*" default under its own key), for diagnostics."""
        out = dict(self._rates)
        if self._default is not None:
            out[DEFAULT_KEY] = self._default
        return out

    def _bucket(self, action: str) -> AsyncLimiter | None:
        bucket = self._buckets.get(action)
        if bucket is None:
            rate = self.rate(action)
            if rate is None:
                return None
            # capacity `burst` drained at `rate`/s; the capacity must hold one call (>= 1),
            # and may not exceed the rate (so a window never sees more than rate + burst - 1)
            paced = rate * PACING_HEADROOM
            capacity = max(1.0, min(float(self.burst), paced))
            bucket = AsyncLimiter(capacity, capacity / paced)
            self._buckets[action] = bucket
        return bucket

    async def acquire(self, action: str) -> None:
        """Wait until `action` may be called again; returns at once for unlimited actions."""
        bucket = self._bucket(action)
        if bucket is not None:
            await bucket.acquire()
