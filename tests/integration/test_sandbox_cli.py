"""`vodhook sandbox`, `sandbox mns` and `sandbox upload` as a newcomer would run them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import AUTH_KEY, REPO, Server, free_port, wait_until

pytestmark = pytest.mark.integration

UPLOAD_TYPES = [
    "FileUploadComplete",
    "StreamTranscodeComplete",
    "TranscodeComplete",
    "SnapshotComplete",
]


class Background:
    """A long-running CLI command whose printed lines tests can wait for."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.out = cwd / f"bg-{free_port()}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "receiver.cli", *args],
            env={**env, "PYTHONPATH": str(REPO)},
            cwd=cwd,
            stdout=open(self.out, "wb"),  # noqa: SIM115 - the process owns it
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(20)


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Any]:
    started: list[Background] = []

    def run(args: list[str], env: dict[str, str]) -> Background:
        bg = Background(args, env, tmp_path)
        started.append(bg)
        return bg

    yield run
    for bg in started:
        if bg.proc.poll() is None:
            bg.stop()


def test_sandbox_upload_reaches_vodhook_over_signed_http(
    server_factory: Any, background: Any
) -> None:
    srv: Server = server_factory()
    vod_port = free_port()
    sandbox = background(
        ["sandbox", "--port", str(vod_port), "--callback-url", srv.callback_url], srv.env
    )
    wait_until(lambda: "VODHOOK_VOD_ENDPOINT" in sandbox.text())
    assert AUTH_KEY not in sandbox.text()
    out = srv.cli("sandbox", "upload", "--endpoint", f"http://127.0.0.1:{vod_port}")
    assert out.returncode == 0, out.stderr
    video_id = out.stdout.split()[1].rstrip(";")
    wait_until(lambda: len(srv.events("--status", "done")) >= 6)
    events = srv.events()
    assert {e["media_id"] for e in events} == {video_id}
    assert {e["event_type"] for e in events} == set(UPLOAD_TYPES)
    assert sandbox.stop() == 0


def test_sandbox_with_mns_delivers_through_the_queue(
    server_factory: Any, background: Any, tmp_path: Path
) -> None:
    vod_port, mns_port = free_port(), free_port()
    probe = Server(tmp_path)
    sandbox = background(
        ["sandbox", "--port", str(vod_port), "--mns-port", str(mns_port)], probe.env
    )
    wait_until(lambda: "VODHOOK_MNS_ENDPOINT" in sandbox.text())
    srv: Server = server_factory(
        {
            "VODHOOK_MNS_ENDPOINT": f"http://127.0.0.1:{mns_port}",
            "VODHOOK_MNS_QUEUE": "vod-events",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "sandbox-ak",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sandbox-secret",
            "VODHOOK_MNS_WAIT_SECONDS": "1",
        }
    )
    response = httpx.post(
        f"http://127.0.0.1:{vod_port}/_sandbox/upload", json={"title": "via mns"}, timeout=30
    )
    assert response.status_code == 200
    wait_until(lambda: len(srv.events("--status", "done")) >= 6, timeout=30)
    assert {e["source"] for e in srv.events()} == {"mns"}


def test_sandbox_mns_prints_settings(background: Any, tmp_path: Path) -> None:
    port = free_port()
    env = Server(tmp_path).env
    mns = background(["sandbox", "mns", "--port", str(port), "--queue", "q1"], env)
    wait_until(lambda: "VODHOOK_MNS_QUEUE=q1" in mns.text())
    assert f"VODHOOK_MNS_ENDPOINT=http://127.0.0.1:{port}" in mns.text()
    assert mns.stop() == 0


def test_sandbox_upload_without_sandbox_is_a_clear_error(tmp_path: Path) -> None:
    out = Server(tmp_path).cli("sandbox", "upload", "--endpoint", f"http://127.0.0.1:{free_port()}")
    assert out.returncode != 0 and "no sandbox at" in out.stderr
