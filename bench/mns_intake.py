"""Figure 2: messages/s stored through the project's MnsSource poller, against the raw SDK.

Both read the same number of pre-filled messages from the same loopback emulator (its own
process), one queue each, one poller / one SDK Account each.
"""

from __future__ import annotations

import json
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
    process_cpu_seconds,
    sqlite_scalar,
    vodhook_command,
    vodhook_env,
)

RAW_QUEUE = "bench-raw"
VODHOOK_QUEUE = "bench-vodhook"


class Emulator:
    def __init__(self, tmp: Path) -> None:
        self.log = open(tmp / "mns-emulator.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "mns_emu.py"), RAW_QUEUE, VODHOOK_QUEUE],
            env=base_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        if not self.endpoint.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"MNS emulator did not start (got {self.endpoint!r})")

    def cpu_seconds(self) -> float | None:
        """The emulator's CPU is the bench's own load, not other load."""
        return process_cpu_seconds(self.proc.pid)

    def queue(self, name: str) -> Any:
        from mns.account import Account

        q = Account(self.endpoint, "sandbox-ak", "sandbox-secret").get_queue(name)
        q.set_encoding(False)
        return q

    def fill(self, name: str, bodies: list[bytes]) -> None:
        from mns.queue import Message

        q = self.queue(name)
        for i in range(0, len(bodies), 16):
            q.batch_send_message([Message(b.decode()) for b in bodies[i : i + 16]])

    def left(self, name: str) -> int:
        attrs = self.queue(name).get_attributes()
        return int(attrs.active_messages) + int(attrs.inactive_messages)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def run_raw(emu: Emulator, n: int) -> dict[str, Any]:
    with CpuWindow(emu) as cpu:
        out = subprocess.run(
            [sys.executable, str(BENCH / "mns_raw.py"), emu.endpoint, RAW_QUEUE, str(n)],
            env=base_env(), capture_output=True, text=True, timeout=180, check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"raw MNS loop failed:\n{out.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    data["foreign_cores"] = round(cpu.foreign_cores, 2)
    data["left_in_queue"] = emu.left(RAW_QUEUE)
    return data


def run_vodhook(emu: Emulator, n: int, tmp: Path, synchronous: str) -> dict[str, Any]:
    db = tmp / f"mns-{synchronous}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = vodhook_env(
        db,
        synchronous,
        VODHOOK_DISABLE_HANDLERS="log",
        VODHOOK_MNS_ENDPOINT=emu.endpoint,
        VODHOOK_MNS_QUEUE=VODHOOK_QUEUE,
        VODHOOK_MNS_WAIT_SECONDS="1",
        ALIBABA_CLOUD_ACCESS_KEY_ID="sandbox-ak",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="sandbox-secret",
    )
    proc = Proc("vodhook-poll", vodhook_command("poll"), env, tmp / "vodhook-poll.log", cwd=tmp)

    def rows(exact: bool = False) -> int:
        """Rows stored so far. While polling, MAX(id): the bodies are unique and nothing is
        deleted, so it equals COUNT(*) at O(log n) instead of a scan every 5 ms, which took
        a quarter of a core from the measured process in earlier runs."""
        if not db.exists():
            return 0
        sql = "SELECT COUNT(*) FROM events" if exact else "SELECT MAX(id) FROM events"
        try:
            return int(sqlite_scalar(db, sql) or 0)
        except Exception:  # the schema may not exist yet
            return 0

    proc.start()
    try:
        c0 = 0
        t_first = t_end = 0.0
        cpu_first = cpu_end = 0.0
        deadline = time.perf_counter() + 120
        with CpuWindow(proc, emu) as cpu:
            while time.perf_counter() < deadline:
                if not proc.alive():
                    raise RuntimeError(f"vodhook poll exited:\n{proc.tail()}")
                count = rows()
                now = time.perf_counter()
                if count and not c0:
                    c0, t_first, cpu_first = count, now, proc.cpu_seconds() or 0.0
                if count >= n:
                    t_end, cpu_end = now, proc.cpu_seconds() or 0.0
                    break
                time.sleep(0.005)
        # Deletes follow the commit; give the last batch's delete a moment.
        left = emu.left(VODHOOK_QUEUE)
        for _ in range(100):
            if left == 0:
                break
            time.sleep(0.05)
            left = emu.left(VODHOOK_QUEUE)
        stored = rows(exact=True)
        rss = proc.peak_rss_mb()
    finally:
        proc.stop()
    seconds = t_end - t_first
    return {
        "messages": n,
        "stored": stored,
        "counted": n - c0,
        "seconds": seconds,
        "rate": (n - c0) / seconds if t_end and seconds > 0 else 0.0,
        # The whole process tree (the service and its MNS worker), over the same window.
        "cpu_us_per_message": (cpu_end - cpu_first) / (n - c0) * 1e6 if t_end else None,
        "left_in_queue": left,
        "peak_rss_mb": rss,
        "foreign_cores": round(cpu.foreign_cores, 2),
    }


def measure(tmp: Path, n: int, synchronous: str) -> dict[str, Any]:
    emu = Emulator(tmp)
    try:
        bodies = file_upload_bodies(2 * n)
        emu.fill(RAW_QUEUE, bodies[:n])
        emu.fill(VODHOOK_QUEUE, bodies[n:])
        raw = run_raw(emu, n)
        project = run_vodhook(emu, n, tmp, synchronous)
    finally:
        emu.stop()
    return {"raw": raw, "vodhook": project, "synchronous": synchronous}
