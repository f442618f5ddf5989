"""Figure 3b: the VOD API rate a handler achieves through the rate-limited client.

Every pre-stored event runs one handler that calls GetVideoInfo through ctx.vod (the
project's VodClient, per-action bucket at the QPS cap) against the VOD emulator answering
every call after 50 ms. Measured on the emulator's own request log: the steady rate and the
most calls in any 1-second window, which must never exceed the cap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    CpuWindow,
    Proc,
    base_env,
    free_port,
    sqlite_scalar,
    vodhook_command,
    vodhook_env,
)
from bench.dispatch import done_count, prefill

ACTION = "GetVideoInfo"
CAP = 100.0  # the documented GetVideoInfo QPS, set explicitly through vod_qps
LATENCY = 0.05
WORKERS = 16  # 8 workers x 50 ms would allow only ~160 calls/s: keep the limiter binding


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def measure(tmp: Path, quick: bool) -> dict[str, Any]:
    n = 400 if quick else 1000
    db = tmp / "vod.db"
    prefill(db, n, "FULL")
    ids_file = tmp / "video-ids.txt"
    video_ids = [
        str(sqlite_scalar(db, "SELECT media_id FROM events WHERE id = ?", (i,)))
        for i in range(1, n + 1)
    ]
    ids_file.write_text("\n".join(video_ids) + "\n")
    log = open(tmp / "vod-emulator.log", "ab")  # noqa: SIM115
    emu = subprocess.Popen(
        [sys.executable, str(BENCH / "vod_emu.py"), str(LATENCY), str(ids_file)],
        env=base_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        assert emu.stdout is not None
        endpoint = emu.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"VOD emulator did not start: {endpoint!r}")
        env = vodhook_env(
            db, "FULL",
            VODHOOK_DISABLE_HANDLERS="log",
            VODHOOK_PLUGINS="bench.noop_plugin:vod_router",
            VODHOOK_VOD_ENDPOINT=endpoint,
            VODHOOK_VOD_QPS=json.dumps({ACTION: CAP}),
            VODHOOK_WORKERS=str(WORKERS),
            ALIBABA_CLOUD_ACCESS_KEY_ID="sandbox-ak",
            ALIBABA_CLOUD_ACCESS_KEY_SECRET="sandbox-secret",
        )
        proc = Proc("vodhook-vod", vodhook_command("serve", "--port", str(free_port())), env,
                    tmp / "vodhook-vod.log", cwd=tmp)
        proc.start()
        try:
            deadline = time.perf_counter() + n / CAP * 3 + 30
            with CpuWindow(proc) as cpu:
                while time.perf_counter() < deadline and done_count(db) < n:
                    if not proc.alive():
                        raise RuntimeError(f"vod service exited:\n{proc.tail()}")
                    time.sleep(0.05)
            done = done_count(db)
        finally:
            proc.stop()
        with urllib.request.urlopen(f"{endpoint}/_sandbox/requests", timeout=10) as r:
            requests = json.loads(r.read())["Requests"]
    finally:
        if emu.stdin:
            emu.stdin.close()
        try:
            emu.wait(10)
        except subprocess.TimeoutExpired:
            emu.kill()
        log.close()
    calls = sorted(float(x["Wall"]) for x in requests if x["Action"] == ACTION)
    ok = sum(1 for x in requests if x["Action"] == ACTION and x["Status"] == 200)
    seconds = calls[-1] - calls[0] if len(calls) > 1 else 0.0
    achieved = (len(calls) - 1) / seconds if seconds > 0 else 0.0
    dead = int(sqlite_scalar(db, "SELECT COUNT(*) FROM events WHERE status = 'dead'"))
    return {
        "action": ACTION,
        "cap": CAP,
        "events": n,
        "done": done,
        "dead": dead,
        "calls": len(calls),
        "calls_ok": ok,
        "seconds": seconds,
        "achieved": achieved,
        "max_1s": max_in_window(calls),
        "workers": WORKERS,
        "latency_s": LATENCY,
        "foreign_cores": round(cpu.foreign_cores, 2),
    }
