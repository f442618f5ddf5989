"""Run the loopback VOD API emulator (receiver/sandbox/vod_emulator.py) in its own process.

Usage: python bench/vod_emu.py LATENCY VIDEO_IDS_FILE
Seeds one video per line of VIDEO_IDS_FILE, prints the endpoint, serves until stdin closes
or SIGTERM. The request log is read over GET /_sandbox/requests.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import serve_until_stopped
from receiver.sandbox.vod_emulator import VodEmulator


def main() -> None:
    latency = float(sys.argv[1])
    emu = VodEmulator(port=0, latency=latency)
    for line in Path(sys.argv[2]).read_text().split():
        emu.add_video(line, snapshot_count=1)
    emu.start()
    serve_until_stopped(emu)


if __name__ == "__main__":
    main()
