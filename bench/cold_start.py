"""Figure 4: seconds from launching `vodhook serve` to /readyz answering 200 (median of k),
against a bare Starlette + uvicorn app (bench/bare_app.py: imports starlette and uvicorn,
serves) reaching its first 200.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.common import BENCH, Proc, base_env, free_port, median, vodhook_command, vodhook_env


def one_vodhook(tmp: Path, i: int) -> float:
    port = free_port()
    db = tmp / f"cold-{i}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    proc = Proc(f"vodhook-cold-{i}", vodhook_command("serve", "--port", str(port)),
                vodhook_env(db, "FULL"), tmp / f"vodhook-cold-{i}.log", cwd=tmp)
    proc.start()
    try:
        return proc.wait_http(port, "/readyz", timeout=60, interval=0.002)
    finally:
        proc.stop()


def one_bare(tmp: Path, i: int) -> float:
    port = free_port()
    proc = Proc(f"bare-cold-{i}", [sys.executable, str(BENCH / "bare_app.py"), str(port)],
                base_env(), tmp / f"bare-cold-{i}.log")
    proc.start()
    try:
        return proc.wait_http(port, "/readyz", timeout=60, interval=0.002)
    finally:
        proc.stop()


def measure(tmp: Path, runs: int) -> dict[str, Any]:
    vodhook: list[float] = []
    bare: list[float] = []
    for i in range(runs):  # interleaved, so that a burst of other load hits both
        bare.append(one_bare(tmp, i))
        vodhook.append(one_vodhook(tmp, i))
    return {
        "vodhook_s": [round(x, 3) for x in vodhook],
        "bare_s": [round(x, 3) for x in bare],
        "vodhook_median_s": median(vodhook),
        "bare_median_s": median(bare),
    }
