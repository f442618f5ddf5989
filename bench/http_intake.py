"""Figure 1: signed, unique events/s that `vodhook serve` stores, against a bare endpoint.

Rounds interleave bare / FULL / NORMAL so that load from elsewhere on the machine hits the
figure and its baseline alike; each ratio is taken within one round, then the median kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    AUTH_KEY,
    BENCH,
    CpuWindow,
    Proc,
    base_env,
    free_port,
    percentile,
    sqlite_scalar,
    vod_signature,
    vodhook_command,
    vodhook_env,
)
from bench.paced import run_paced

WRK_CONNECTIONS = 32
PACED_RATE = 500.0


@dataclass
class Target:
    """One server to measure: the bare baseline or vodhook at one synchronous level."""

    key: str  # "bare", "FULL", "NORMAL", "NORMAL-nodisp"
    label: str
    env_extra: dict[str, str] = field(default_factory=dict)
    synchronous: str = ""  # for vodhook: FULL or NORMAL
    no_dispatcher: bool = False  # diagnostic: bench/serve_no_dispatcher.py

    @property
    def is_bare(self) -> bool:
        return self.key == "bare"


def start_server(target: Target, tmp: Path, tag: str) -> tuple[Proc, int, Path | None]:
    port = free_port()
    if target.is_bare:
        proc = Proc(
            f"bare-{tag}",
            [sys.executable, str(BENCH / "bare_app.py"), str(port)],
            base_env(),
            tmp / f"bare-{tag}.log",
        )
        db = None
    else:
        db = tmp / f"vodhook-{target.key}-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        cmd = (
            [sys.executable, str(BENCH / "serve_no_dispatcher.py"), "serve", "--port", str(port)]
            if target.no_dispatcher
            else vodhook_command("serve", "--port", str(port))
        )
        proc = Proc(
            f"vodhook-{target.key}-{tag}",
            cmd,
            vodhook_env(db, target.synchronous or target.key, **target.env_extra),
            tmp / f"vodhook-{target.key}-{tag}.log",
            cwd=tmp,
        )
    proc.start()
    proc.wait_http(port, "/readyz", timeout=30)
    return proc, port, db


def signed_headers(port: int) -> tuple[str, str]:
    ts = str(int(time.time()))
    return ts, vod_signature(f"http://127.0.0.1:{port}/callback", ts, AUTH_KEY)


def wrk_run(port: int, bodies_file: Path, duration: float, server: Proc) -> dict[str, Any]:
    ts, sig = signed_headers(port)
    env = dict(os.environ, BENCH_BODIES=str(bodies_file), BENCH_TS=ts, BENCH_SIG=sig)
    cmd = [
        "wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{duration:g}s", "--latency", "--timeout", "10s",
        "-s", str(BENCH / "wrk_callback.lua"), f"http://127.0.0.1:{port}/callback",
    ]
    cpu_before = server.cpu_seconds() or 0.0
    with CpuWindow(server) as cpu:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                             timeout=duration + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line[len("BENCH_JSON "):])
            data["rate"] = data["stored"] / (data["duration_us"] / 1e6)
            data["foreign_cores"] = round(cpu.foreign_cores, 2)
            server_cpu = (server.cpu_seconds() or 0.0) - cpu_before
            data["server_cores"] = round(server_cpu / cpu.wall, 2)
            data["server_cpu_us_per_request"] = round(
                server_cpu / max(data["requests"], 1) * 1e6, 1
            )
            return data
    raise RuntimeError(f"wrk gave no result (rc={out.returncode}):\n{out.stdout}\n{out.stderr}")


def paced_run(port: int, bodies: list[bytes], duration: float, server: Proc) -> dict[str, Any]:
    ts, sig = signed_headers(port)
    headers = {
        "Content-Type": "application/json",
        "X-VOD-TIMESTAMP": ts,
        "X-VOD-SIGNATURE": sig,
    }
    with CpuWindow(server) as cpu:
        res = run_paced(port, bodies, headers, PACED_RATE, duration)
    ms = [x * 1000 for x in res.latencies]
    return {
        "rate": PACED_RATE,
        "achieved_rate": round(res.achieved_rate, 1),
        "sent": res.sent,
        "stored": res.ok,
        "duplicate": res.duplicate,
        "failed": res.failed,
        "failures": res.failures,
        "late_starts": res.late_starts,
        "connections": res.connections,
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3) if ms else None,
        "foreign_cores": round(cpu.foreign_cores, 2),
    }


def drain(db: Path, timeout: float = 120.0) -> dict[str, Any]:
    """How far the dispatcher got during the load, and how long it took to finish after.

    The dispatcher stands back while intake keeps the CPU busy (receiver/dispatch/
    pressure.py), so the intake figure is honest only with these two numbers beside it.
    """
    started = time.monotonic()
    done_at_stop = int(sqlite_scalar(db, "SELECT COUNT(*) FROM events WHERE status = 'done'"))
    rows = int(sqlite_scalar(db, "SELECT COUNT(*) FROM events"))
    left = rows - done_at_stop
    while left and time.monotonic() - started < timeout:
        time.sleep(0.2)
        left = int(sqlite_scalar(db, "SELECT COUNT(*) FROM events WHERE status != 'done'"))
    return {
        "rows": rows,
        "done_at_stop": done_at_stop,
        "left": left,
        "drain_seconds": round(time.monotonic() - started, 2) if not left else None,
    }


def measure(
    target: Target,
    tmp: Path,
    tag: str,
    wrk_bodies: Path,
    paced_bodies: list[bytes] | None,
    wrk_seconds: float,
    paced_seconds: float,
) -> dict[str, Any]:
    """Start a fresh server (fresh SQLite file), paced run (optional), wrk run, checks."""
    proc, port, db = start_server(target, tmp, tag)
    result: dict[str, Any] = {"target": target.key}
    try:
        if paced_bodies is not None:
            result["paced"] = paced_run(port, paced_bodies, paced_seconds, proc)
        # Let the dispatcher finish the paced events so that they do not colour the wrk run.
        time.sleep(0.3)
        result["wrk"] = wrk_run(port, wrk_bodies, wrk_seconds, proc)
        if db is not None and not target.no_dispatcher:
            result["dispatch"] = drain(db)
        result["peak_rss_mb"] = proc.peak_rss_mb()
        if db is not None:
            rows = int(sqlite_scalar(db, "SELECT COUNT(*) FROM events"))
            acked = result["wrk"]["stored"] + result.get("paced", {}).get("stored", 0)
            extra = rows - acked
            non200 = result["wrk"]["other"] + result.get("paced", {}).get("failed", 0)
            dups = result["wrk"]["duplicate"] + result.get("paced", {}).get("duplicate", 0)
            result["check"] = {
                "rows": rows,
                "acked_200": acked,
                "rows_minus_acked": extra,
                "non_200": non200,
                "duplicates": dups,
                # wrk stops with up to -c requests in flight: stored, but their 200 unseen.
                "ok": 0 <= extra <= WRK_CONNECTIONS and non200 == 0 and dups == 0,
            }
    finally:
        proc.stop()
    return result
