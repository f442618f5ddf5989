"""Figure 3: events/s from the store through a no-op handler, against the same store work in a
bare loop (bench/dispatch_baseline.py); and, when receiver/vod exists, the VOD API rate a
handler achieves through the project's rate-limited client against the per-action QPS cap.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    CpuWindow,
    Proc,
    base_env,
    file_upload_bodies,
    free_port,
    sqlite_scalar,
    vodhook_command,
    vodhook_env,
)

WORKERS = 8  # the default VODHOOK_WORKERS


def prefill(db: Path, n: int, synchronous: str, history: int = 0) -> None:
    """`history` done events, then n received FileUploadComplete events, each of its own
    media (no ordering waits). A store that has run for a while holds mostly done events.
    """
    from receiver.sources.delivery import to_delivery
    from receiver.store import SQLiteStore

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(db, synchronous=synchronous)
    now = time.time()
    bodies = file_upload_bodies(history + n)
    for i in range(0, len(bodies), 512):
        store.insert_many([to_delivery(b, "http", now) for b in bodies[i : i + 512]])
    if history:
        store.db.execute("UPDATE events SET status = 'done' WHERE id <= ?", (history,))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def done_count(db: Path) -> int:
    return int(sqlite_scalar(db, "SELECT COUNT(*) FROM events WHERE status = 'done'"))


def run_baseline(db: Path, n: int, synchronous: str) -> dict[str, Any]:
    with CpuWindow() as cpu:
        out = subprocess.run(
            [sys.executable, str(BENCH / "dispatch_baseline.py"), str(db), synchronous, str(n),
             str(WORKERS)],
            env=base_env(), capture_output=True, text=True, timeout=180, check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"dispatch baseline failed:\n{out.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    data["foreign_cores"] = round(cpu.foreign_cores, 2)
    return data


def run_service(
    db: Path, n: int, synchronous: str, tmp: Path, plugin: str, history: int = 0,
    extra: dict[str, str] | None = None, timeout: float = 120.0,
) -> dict[str, Any]:
    """`vodhook serve` on a pre-filled store (`history` events already done, n queued);
    the rate runs from the first newly done event to the last."""
    port = free_port()
    env = vodhook_env(db, synchronous, VODHOOK_DISABLE_HANDLERS="log", VODHOOK_PLUGINS=plugin,
                      **(extra or {}))
    proc = Proc("vodhook-dispatch", vodhook_command("serve", "--port", str(port)), env,
                tmp / "vodhook-dispatch.log", cwd=tmp)
    proc.start()
    c0 = -1
    t_first = t_end = 0.0
    try:
        deadline = time.perf_counter() + timeout
        with CpuWindow(proc) as cpu:
            while time.perf_counter() < deadline:
                if not proc.alive():
                    raise RuntimeError(f"vodhook serve exited:\n{proc.tail()}")
                count = done_count(db) - history
                now = time.perf_counter()
                if count > 0 and c0 < 0:
                    c0, t_first = count, now
                if count >= n:
                    t_end = now
                    break
                time.sleep(0.01)
        rss = proc.peak_rss_mb()
    finally:
        proc.stop()
    done = done_count(db) - history
    seconds = (t_end or time.perf_counter()) - t_first
    counted = (n if t_end else done) - max(c0, 0)
    return {
        "events": n,
        "done": done,
        "counted": counted,
        "seconds": seconds,
        "rate": counted / seconds if t_first and seconds > 0 else 0.0,
        "finished": bool(t_end),
        "peak_rss_mb": rss,
        "foreign_cores": round(cpu.foreign_cores, 2),
    }


def measure(tmp: Path, n: int, synchronous: str, history: int = 0) -> dict[str, Any]:
    db_base = tmp / f"dispatch-base-{synchronous}.db"
    db_svc = tmp / f"dispatch-svc-{synchronous}.db"
    prefill(db_base, n, synchronous, history)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_svc}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db_base, db_svc)
    baseline = run_baseline(db_base, n, synchronous)
    service = run_service(db_svc, n, synchronous, tmp, "bench.noop_plugin:router", history)
    return {"baseline": baseline, "vodhook": service, "synchronous": synchronous,
            "history": history}


# -- VOD API rate ------------------------------------------------------------------------------
def vod_available() -> str | None:
    """None when receiver.vod can be used, else why not."""
    try:
        from receiver.vod import VodClient  # noqa: F401
    except ImportError as exc:
        return f"receiver.vod is not there yet ({exc})"
    return None
