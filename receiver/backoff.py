"""Backoff delays: when a failed event runs again, when a failing poller tries again.

Written here rather than taken from tenacity: the event schedule is persisted in the store
(next_attempt_at) and survives restarts, and the MNS poller waits on a stop event so that
shutdown interrupts it; tenacity drives its own in-process sleep loop.
"""

from __future__ import annotations

import random

_RNG = random.Random()


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": between half and all of base * 2**(attempt-1).

    Half the delay is kept so that retries never bunch up at zero after a mass failure.
    """
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    jitter: float = (rng or _RNG).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter
