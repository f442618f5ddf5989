"""Helpers shared by the benchmark sections: processes, ports, bodies, signing, machine facts.

Everything here talks to 127.0.0.1 only, and every wait is bounded in time.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
AUTH_KEY = "BenchKey0123456789abcdef"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def vod_signature(url: str, timestamp: str, key: str = AUTH_KEY) -> str:
    """md5("{url}|{timestamp}|{AuthKey}"), as VOD signs (same as receiver.verify)."""
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode()).hexdigest()


def vodhook_command(*args: str) -> list[str]:
    """`vodhook ARGS`: the installed console script of this interpreter, not a pyenv shim."""
    script = Path(sys.executable).parent / "vodhook"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "receiver.cli", *args]


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """One GET on a fresh connection; the status code, or None when nothing answered."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of a process and all its descendants (Linux /proc).

    Descendants count: `vodhook poll` does its MNS calls in worker processes, whose CPU is
    part of what the figure costs. Reaped children are in the parent's cutime/cstime.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    except (OSError, IndexError, ValueError):
        return None
    total = ticks / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        total += process_cpu_seconds(child) or 0.0
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(x) for x in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
                return own + sum(_peak_rss_mb(c) or 0.0 for c in _children(pid))
    except OSError:
        return None
    return None


class HasCpu(Protocol):
    def cpu_seconds(self) -> float | None: ...


@dataclass
class Proc:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    name: str
    cmd: Sequence[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = REPO
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            list(self.cmd), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_http(self, port: int, path: str, timeout: float = 30.0, interval: float = 0.005
                  ) -> float:
        """Seconds from start() until GET path answered 200; raises if it never did."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            if http_status(port, path, timeout=0.5) == 200:
                return time.perf_counter() - self.started_at
            time.sleep(interval)
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.tail()}")

    def peak_rss_mb(self) -> float | None:
        """VmHWM (peak resident set) of the child plus those of its live descendants, MiB.

        A sum of peaks: an upper bound when there are descendants (MNS worker processes).
        """
        return _peak_rss_mb(self.pid)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the child and its descendants so far."""
        return process_cpu_seconds(self.pid)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def base_env(**extra: str) -> dict[str, str]:
    """The environment for children: this one, minus VODHOOK_* knobs the caller did not set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODHOOK_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def vodhook_env(db: Path, synchronous: str = "FULL", **extra: str) -> dict[str, str]:
    return base_env(
        VODHOOK_DATABASE_URL=f"sqlite:///{db}",
        VODHOOK_SQLITE_SYNCHRONOUS=synchronous,
        VODHOOK_AUTH_KEYS=AUTH_KEY,
        VODHOOK_LOG_FORMAT="json",
        VODHOOK_BUILTIN_HANDLERS="true",
        **extra,
    )


# -- bodies ----------------------------------------------------------------------------------
def file_upload_bodies(n: int, seed: int | None = None, start: int = 0) -> list[bytes]:
    """n unique FileUploadComplete bodies of about 210 bytes (unique VideoId per body).

    EventTime advances one second every 64 events, as a burst of real uploads would.
    """
    nonce = random.Random(seed).getrandbits(32) if seed is not None else random.getrandbits(32)
    base = 1_715_000_000  # 2024-05-06
    out: list[bytes] = []
    for i in range(start, start + n):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i // 64))
        vid = f"{nonce:08x}{i:024x}"
        out.append(
            (
                f'{{"EventTime":"{when}","EventType":"FileUploadComplete","VideoId":"{vid}",'
                f'"Status":"success","Size":{1_000_000 + i},"FileUrl":"http://outin-01.oss-'
                f'cn-shanghai.aliyuncs.com/sv/{vid[-10:]}.mp4"}}'
            ).encode()
        )
    return out


# -- SQLite ----------------------------------------------------------------------------------
def sqlite_scalar(db: Path, sql: str, args: Sequence[Any] = ()) -> Any:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = con.execute(sql, tuple(args)).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    deadline = time.perf_counter() + timeout
    last: Any = None
    while time.perf_counter() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    return last


# -- reporting -------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def flush_latency_us(directory: Path, samples: int = 100, size: int = 64 * 1024) -> list[float]:
    """fdatasync times of `size` bytes overwritten in place, in µs, on `directory`'s disk.

    What a COMMIT at synchronous=FULL waits for: about the bytes a 32-event commit appends
    to the WAL (15 pages), written over the same region as SQLite reuses its WAL.
    """
    path = directory / "flush-probe.bin"
    block = os.urandom(size)
    out: list[float] = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, block, 0)
        os.fsync(fd)
        for _ in range(samples):
            os.pwrite(fd, block, 0)
            started = time.perf_counter()
            os.fdatasync(fd)
            out.append((time.perf_counter() - started) * 1e6)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return out


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Figure:
    """One line of the results table."""

    section: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True
    target: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


# -- other load on the machine -----------------------------------------------------------------
def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    try:
        parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def _own_seconds() -> float:
    """CPU seconds of this process and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CpuWindow:
    """How busy the machine was with work that is not ours during a measurement.

    `foreign_cores` is the average number of cores used by other processes (other sessions'
    tests, say). Above ~0.2 on a 2-core machine, absolute figures are unreliable; same-run
    ratios from interleaved rounds hold up better.
    """

    def __init__(self, *procs: HasCpu) -> None:
        self.procs = procs
        self.wall = 0.0
        self.foreign_cores = 0.0
        self.ours_cores = 0.0

    def __enter__(self) -> CpuWindow:
        self._t = time.perf_counter()
        self._busy = _machine_busy_seconds()
        self._own = _own_seconds()
        self._procs = [p.cpu_seconds() or 0.0 for p in self.procs]
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t
        busy = _machine_busy_seconds() - self._busy
        ours = _own_seconds() - self._own
        ours += sum((p.cpu_seconds() or 0.0) - b for p, b in zip(self.procs, self._procs,
                                                                  strict=True))
        if self.wall > 0:
            self.ours_cores = ours / self.wall
            self.foreign_cores = max(0.0, busy - ours) / self.wall


def serve_until_stopped(emulator: Any) -> None:
    """For emulators run as bench child processes: print the endpoint, serve until stdin
    closes (the parent went away) or SIGTERM, then stop."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(emulator.endpoint, flush=True)

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    stop.wait(600)
    emulator.stop()
