"""Run the loopback MNS emulator (receiver/sandbox/mns_emulator.py) in its own process.

In its own process so that its threads do not share a GIL with the poller being measured.
Usage: python bench/mns_emu.py QUEUE [QUEUE ...]; prints the endpoint on one line, then
serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import serve_until_stopped
from receiver.sandbox.mns_emulator import MnsEmulator


def main() -> None:
    emu = MnsEmulator(port=0, access_key_id="sandbox-ak", access_key_secret="sandbox-secret")
    emu.start()
    for name in sys.argv[1:]:
        emu.create_queue(name, visibility_timeout=60)
    serve_until_stopped(emu)


if __name__ == "__main__":
    main()
