"""Run the loopback MNS emulator (receiver/sandbox/mns_emulator.py) in its own process.

In its own process so that its threads do not share a GIL with the poller being measured.
Usage: python bench/mns_emu.py QUEUE [QUEUE ...]; prints the endpoint on one line, then
serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.sandbox.mns_emulator import MnsEmulator


def main() -> None:
    emu = MnsEmulator(port=0, access_key_id="sandbox-ak", access_key_secret="sandbox-secret")
    emu.start()
    for name in sys.argv[1:]:
        emu.create_queue(name, visibility_timeout=60)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(emu.endpoint, flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait(600)
    emu.stop()


if __name__ == "__main__":
    main()
