"""When the dispatcher should stand back so that intake keeps up.

VOD gives an HTTP delivery 5 s and 3 attempts, about 1 s apart, then drops the event; a
stored event can wait. Both run on one event loop, so in a burst that uses the whole core
every event the dispatcher handles is CPU taken from acknowledging the next ones (bench/:
with the dispatcher refilling its workers as fast as they free up, intake lost about a
tenth of its rate). Under that pressure the dispatcher claims once per poll interval
instead of at once; when the burst ends it is back to full speed within one window.

"Busy" is 0.7 of a core, not 1.0: an MNS burst keeps the process at 0.8 to 0.9 of a core,
the rest being the waits on MNS itself, and the dispatcher's work there was a third of the
loop's (bench/). A paced 500 events/s load uses a few percent and is not affected.
The CPU of child processes counts: the MNS workers (sources/mns_worker.py) are intake too,
and without them an MNS burst left the service at about 0.4 of a core, so the dispatcher
ran at full speed beside it (bench/: 0.68 against 0.92 of the raw SDK loop with the
dispatcher not started).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_with_children() -> float:
    """CPU seconds of this process plus those of its live children (Linux /proc; elsewhere
    this process only)."""
    total = time.process_time()
    try:
        tasks = list(Path("/proc/self/task").glob("*/children"))
    except OSError:
        return total
    for children in tasks:
        try:
            pids = children.read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / _TICK
            except (OSError, IndexError, ValueError):
                continue
    return total


class IntakePressure:
    """Pressed = events were stored in the last window and the process kept a core busy."""

    def __init__(
        self,
        window: float = 0.1,
        busy_share: float = 0.7,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = cpu_with_children,
    ) -> None:
        self.window = window
        self.busy_share = busy_share
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._last_intake = float("-inf")
        self._sampled_at = clock()
        self._cpu_at = cpu_clock()
        self._share = 0.0

    def stored(self) -> None:
        """Intake committed new events just now."""
        self._last_intake = self._clock()

    @property
    def pressed(self) -> bool:
        now = self._clock()
        if now - self._last_intake > self.window:
            return False
        elapsed = now - self._sampled_at
        if elapsed >= self.window:
            cpu = self._cpu_clock()
            self._share = (cpu - self._cpu_at) / elapsed
            self._sampled_at, self._cpu_at = now, cpu
        return self._share >= self.busy_share
