"""Helpers shared by the integration tests: a real `vodhook serve` process and signing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from receiver.verify import vod_signature

REPO = Path(__file__).resolve().parent.parent
AUTH_KEY = "TestKey123abcXYZ"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy; fail the test with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {last!r})")


def signed_headers(url: str, key: str = AUTH_KEY, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/json",
        "x-vod-timestamp": ts,
        "x-vod-signature": vod_signature(url, ts, key),
    }


class Server:
    """`python -m receiver.cli serve` on a free loopback port, with its own SQLite file."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.db = tmp / "vodhook.db"
        self.record = tmp / "record.jsonl"
        self.log_path = tmp / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "VODHOOK_DATABASE_URL": f"sqlite:///{self.db}",
            "VODHOOK_AUTH_KEYS": AUTH_KEY,
            "VODHOOK_PLUGINS": "tests.plugins.recorder:router",
            "VODHOOK_TEST_RECORD": str(self.record),
            "VODHOOK_RETRY_BASE": "0.05",
            "VODHOOK_RETRY_CAP": "0.2",
            "VODHOOK_POLL_INTERVAL": "0.01",
            "VODHOOK_LOG_FORMAT": "json",
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback_url(self) -> str:
        return f"{self.base}/callback"

    def start(self, wait: bool = True) -> Server:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "receiver.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        if wait:
            wait_until(self._ready, timeout=30)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
        try:
            return httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(
        self, body: bytes | dict[str, Any], headers: dict[str, str] | None = None, sign: bool = True
    ) -> httpx.Response:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        hdrs = signed_headers(self.callback_url) if sign else {}
        hdrs.update(headers or {})
        return httpx.post(self.callback_url, content=data, headers=hdrs, timeout=10)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def recorded(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "receiver.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.tmp,
        )

    def events(self, *args: str) -> list[dict[str, Any]]:
        out = self.cli("events", "list", "--json", "--limit", "100000", *args)
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout))
