"""Baseline for the dispatch figure: the dispatcher's per-event store work, in a bare loop.

For each event, the same calls the dispatcher makes through the same SQLiteStore
(claim with a lease, parse the body, read the journal, journal the handler's success,
mark the event done), at the same synchronous level, with no event loop, no tasks, no
routing and no metrics. Events are claimed in batches of `workers` (the dispatcher's
batch when it starts; under a backlog it refills one event at a time).
The ratio dispatcher/baseline is the cost of the dispatcher's machinery on top of the
store work it cannot avoid with this store design.

Usage: python bench/dispatch_baseline.py DB SYNCHRONOUS N WORKERS (N: events to process)
Prints one JSON line: {"done": n, "seconds": s, "rate": n/s}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.events import parse_event_bytes
from receiver.store import SQLiteStore


def main() -> None:
    db, synchronous, n, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = SQLiteStore(db, synchronous=synchronous)
    done = 0
    deadline = time.monotonic() + 120
    started = time.perf_counter()
    while done < n and time.monotonic() < deadline:
        now = time.time()
        claimed = store.claim(workers, now, now + 30.0)
        if not claimed:
            break
        for record in claimed:
            parse_event_bytes(record.body)
            store.journal(record.id)
            store.record_handler(record.id, "bench_noop", True, result=None,
                                 attempt=record.attempts)
            store.complete(record.id)
            done += 1
    seconds = time.perf_counter() - started
    store.close()
    print(json.dumps({"done": done, "seconds": seconds, "rate": done / seconds}))


if __name__ == "__main__":
    main()
