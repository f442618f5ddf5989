"""Baseline for the MNS figure: the raw SDK loop and nothing else.

batch_receive_message(16) + batch_delete_message on one Account, as the MnsSource poller
does, but without decoding, typing or storing anything.
Usage: python bench/mns_raw.py ENDPOINT QUEUE N
Prints one JSON line. The clock starts when the first batch arrives and stops when the
last delete returns; the first batch is not counted (the project figure is measured the
same way from its first stored row).
"""

from __future__ import annotations

import json
import sys
import time

from mns.account import Account
from mns.mns_exception import MNSServerException


def main() -> None:
    endpoint, queue_name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    queue = Account(endpoint, "sandbox-ak", "sandbox-secret").get_queue(queue_name)
    queue.set_encoding(False)
    got = 0
    first_batch = 0
    t_first = t_last = 0.0
    cpu_first = cpu_last = 0.0
    deadline = time.monotonic() + 120
    while got < n and time.monotonic() < deadline:
        try:
            messages = queue.batch_receive_message(16, 1)
        except MNSServerException as exc:
            if exc.type == "MessageNotExist":
                continue
            raise
        if not first_batch:
            first_batch = len(messages)
            t_first = time.perf_counter()
            cpu_first = time.process_time()
        queue.batch_delete_message([m.receipt_handle for m in messages])
        got += len(messages)
        t_last = time.perf_counter()
        cpu_last = time.process_time()
    counted = got - first_batch
    seconds = t_last - t_first
    print(json.dumps({"messages": got, "counted": counted, "seconds": seconds,
                      "rate": counted / seconds if seconds > 0 else 0.0,
                      "cpu_us_per_message": (cpu_last - cpu_first) / counted * 1e6
                      if counted else None}))


if __name__ == "__main__":
    main()
