"""Profile `vodhook serve` under the wrk intake load with py-spy; print where time goes.

Usage: python bench/profile_intake.py [FULL|NORMAL] [seconds]
Writes bench/results/profile-<level>.raw (collapsed stacks; *.raw is not committed) and
prints the top frames by self time and by inclusive time. py-spy must be installed
(`pip install py-spy`); nothing is installed by this script.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, file_upload_bodies
from bench.http_intake import Target, start_server, wrk_run


def summarise(collapsed: Path, top: int = 35) -> str:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_s)
        total += count
        frames = stack.split(";")
        self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    out = [f"samples: {total}", "", "== self time =="]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in self_time.most_common(top)]
    out += ["", "== inclusive time =="]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(out)


def main() -> None:
    level = sys.argv[1] if len(sys.argv) > 1 else "FULL"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
    if shutil.which("py-spy") is None:
        sys.exit("py-spy not found: pip install py-spy")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vodhook-prof-") as d:
        tmp = Path(d)
        bodies = tmp / "bodies.txt"
        bodies.write_bytes(b"\n".join(file_upload_bodies(int(40_000 * seconds))) + b"\n")
        target = Target(level, level, {"VODHOOK_DISABLE_HANDLERS": "log"})
        proc, port, _db = start_server(target, tmp, "prof")
        out = RESULTS / f"profile-{level}.raw"
        try:
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(proc.pid), "--duration", str(int(seconds)),
                 "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking",
                 "--threads"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            result: dict[str, object] = {}
            t = threading.Thread(
                target=lambda: result.update(wrk_run(port, bodies, seconds, proc))
            )
            t.start()
            t.join()
            spy.wait(seconds + 30)
        finally:
            proc.stop()
    print(f"wrk: {result.get('rate', 0):.0f} stored/s under the profiler (slower than unprofiled)")
    print(summarise(out))


if __name__ == "__main__":
    main()
