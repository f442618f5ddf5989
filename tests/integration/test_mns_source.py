"""The MNS source end to end: the unmodified SDK on both sides of the loopback emulator,
a real `vodhook serve` process, a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mns.account import Account
from mns.queue import Message

from receiver.events import sample_event
from receiver.sandbox.mns_emulator import MnsEmulator
from tests.support import Server, free_port, wait_until

pytestmark = pytest.mark.integration

QUEUE = "vod-events"
AK, SK = "test-ak", "test-secret-value-123"


@pytest.fixture
def emulator() -> Iterator[MnsEmulator]:
    emu = MnsEmulator(access_key_id=AK, access_key_secret=SK).start()
    emu.create_queue(QUEUE, visibility_timeout=30)
    yield emu
    emu.stop()


def mns_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "VODHOOK_MNS_ENDPOINT": endpoint,
        "VODHOOK_MNS_QUEUE": QUEUE,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": AK,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SK,
        "VODHOOK_MNS_WAIT_SECONDS": "1",
        **extra,
    }


def sdk_queue(emu: MnsEmulator, encoding: bool) -> Any:
    queue = Account(emu.endpoint, AK, SK).get_queue(QUEUE)
    queue.set_encoding(encoding)
    return queue


def send_raw(emu: MnsEmulator, bodies: list[str]) -> None:
    """Raw JSON bodies (SDK encoding off), in batches of 16 like VOD's queue writer."""
    queue = sdk_queue(emu, encoding=False)
    for i in range(0, len(bodies), 16):
        queue.batch_send_message([Message(b) for b in bodies[i : i + 16]])


def send_b64(emu: MnsEmulator, bodies: list[str]) -> None:
    """The SDK's default path: it base64-encodes each body."""
    queue = sdk_queue(emu, encoding=True)
    for body in bodies:
        queue.send_message(Message(body))


def events(n: int) -> list[str]:
    return [json.dumps(sample_event("FileUploadComplete")) for _ in range(n)]


def db_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, status, source, event_type, last_error FROM events ORDER BY id"
        ).fetchall()


def processed_once(srv: Server, expected: int) -> None:
    wait_until(lambda: len(srv.events("--status", "done")) == expected, timeout=40)
    counts = Counter(r["event_id"] for r in srv.recorded())
    assert len(counts) == expected
    assert max(counts.values()) == 1, "an event was processed twice"


def queue_empty(emu: MnsEmulator) -> Callable[[], bool]:
    return lambda: emu.queue_snapshot(QUEUE).total == 0


def test_raw_and_base64_bodies_are_both_consumed(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    srv: Server = server_factory(mns_env(emulator.endpoint))
    send_raw(emulator, events(5))
    send_b64(emulator, events(5))
    processed_once(srv, 10)
    wait_until(queue_empty(emulator))
    assert {row[2] for row in db_rows(srv.db)} == {"mns"}


def test_one_batch_mixing_good_duplicate_and_poison(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    good = events(3)
    poison_text = "this is neither json nor base64!"
    poison_json = json.dumps({"VideoId": "no-event-type"})
    # Put them in before the server starts so that one batch receive takes them all.
    for body in [*good, good[0], poison_text, poison_json]:
        emulator.put_message(QUEUE, body)
    srv: Server = server_factory(mns_env(emulator.endpoint))
    processed_once(srv, 3)
    wait_until(queue_empty(emulator))
    dead = srv.events("--status", "dead")
    reasons = sorted(d["last_error"] for d in dead)
    assert len(dead) == 2
    assert "neither JSON nor base64" in reasons[0] + reasons[1]
    assert "EventType" in reasons[0] + reasons[1]
    metrics = httpx.get(f"{srv.base}/metrics").text
    assert 'vodhook_mns_messages_total{outcome="duplicate"} 1.0' in metrics
    assert 'vodhook_mns_messages_total{outcome="dead"} 2.0' in metrics
    assert 'vodhook_mns_messages_total{outcome="stored"} 3.0' in metrics


@pytest.mark.parametrize(
    "fault",
    [
        {"op": "BatchReceiveMessage", "kind": "error", "code": "InternalError", "times": 3},
        {"op": "BatchReceiveMessage", "kind": "error", "code": "ServiceUnavailable", "times": 3},
        {"op": "BatchReceiveMessage", "kind": "error", "code": "QpsLimitExceeded", "times": 3},
        {"op": "BatchReceiveMessage", "kind": "error", "code": "TooManyRequests", "times": 2},
        {"op": "BatchReceiveMessage", "kind": "instant_empty", "times": 20},
        {"op": "BatchReceiveMessage", "kind": "drop", "times": 2},
        {"op": "BatchReceiveMessage", "kind": "drop", "times": 1, "drop_after_dequeue": True},
        {"op": "BatchDeleteMessage", "kind": "drop", "times": 1, "drop_after_dequeue": False},
        {"op": "BatchDeleteMessage", "kind": "error", "code": "InternalError", "times": 1},
        {"op": None, "kind": "delay", "delay": 0.3, "times": 4},
    ],
    ids=lambda f: f"{f['op']}-{f['kind']}-{f.get('code', '')}-{f.get('drop_after_dequeue', '')}",
)
def test_faults_recover_without_loss_or_double_processing(
    server_factory: Any, emulator: MnsEmulator, fault: dict[str, Any]
) -> None:
    emulator.create_queue(QUEUE, visibility_timeout=2)
    srv: Server = server_factory(mns_env(emulator.endpoint))
    emulator.faults.add(**fault)
    send_raw(emulator, events(8))
    # Messages that the server dequeued but whose answer was lost (or whose delete failed)
    # come back after the 2 s visibility timeout and must be processed exactly once.
    processed_once(srv, 8)
    wait_until(queue_empty(emulator), timeout=30)
    if fault["kind"] in ("error", "drop") and fault["op"] == "BatchReceiveMessage":
        assert "vodhook_mns_poll_errors_total" in httpx.get(f"{srv.base}/metrics").text


def test_expired_receipt_handle_message_comes_back_and_is_processed_once(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    emulator.create_queue(QUEUE, visibility_timeout=2)
    # Delete answers MessageNotExist as if the handle had expired (the server rotated it).
    emulator.faults.add(op="BatchDeleteMessage", kind="error", code="MessageNotExist", times=1)
    srv: Server = server_factory(mns_env(emulator.endpoint))
    send_raw(emulator, events(4))
    processed_once(srv, 4)
    wait_until(queue_empty(emulator), timeout=30)
    text = httpx.get(f"{srv.base}/metrics").text
    assert 'vodhook_mns_messages_total{outcome="duplicate"} 4.0' in text


def test_unreachable_endpoint_recovers_once_it_appears(server_factory: Any) -> None:
    port = free_port()
    srv: Server = server_factory(mns_env(f"http://127.0.0.1:{port}"))
    wait_until(lambda: 'kind="network"' in httpx.get(f"{srv.base}/metrics").text, timeout=20)
    emu = MnsEmulator(port=port, access_key_id=AK, access_key_secret=SK).start()
    try:
        emu.create_queue(QUEUE)
        send_raw(emu, events(3))
        processed_once(srv, 3)
        wait_until(lambda: emu.queue_snapshot(QUEUE).total == 0)
    finally:
        emu.stop()
    assert SK not in srv.logs()


def test_graceful_stop_with_messages_in_flight_loses_nothing(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    emulator.create_queue(QUEUE, visibility_timeout=3)
    srv: Server = server_factory(mns_env(emulator.endpoint, VODHOOK_MNS_POLLERS="2"))
    # Slow deletes keep received messages in the poller when SIGTERM arrives.
    emulator.faults.add(op="BatchDeleteMessage", kind="delay", delay=0.5, times=3)
    sent = events(40)
    send_raw(emulator, sent)
    wait_until(lambda: len(db_rows(srv.db)) > 0)
    # uvicorn re-raises SIGTERM after a graceful shutdown, so the exit status is -15.
    assert srv.stop() in (0, -15)
    assert '"mns_stopped"' in srv.logs() and '"event": "stopped"' in srv.logs()
    stored_before = len(db_rows(srv.db))
    # Whatever was not stored is still in the queue; a restart finishes the rest.
    srv.start()
    processed_once(srv, 40)
    wait_until(queue_empty(emulator), timeout=30)
    assert stored_before <= 40


def test_two_pollers_and_two_processes_share_one_queue(
    server_factory: Any, emulator: MnsEmulator, tmp_path: Path
) -> None:
    env = mns_env(emulator.endpoint, VODHOOK_MNS_POLLERS="2")
    first: Server = server_factory(env)
    second: Server = server_factory(
        {
            **env,
            "VODHOOK_DATABASE_URL": f"sqlite:///{first.db}",
            "VODHOOK_TEST_RECORD": str(first.record),
        }
    )
    bodies = events(60)
    send_raw(emulator, bodies[:30])
    send_b64(emulator, bodies[30:])
    processed_once(first, 60)
    wait_until(queue_empty(emulator))
    pids = {r["pid"] for r in first.recorded()}
    assert len(pids) >= 1
    assert second.proc is not None and second.proc.poll() is None


def test_sdk_send_path_end_to_end_until_handlers_ran(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    srv: Server = server_factory(mns_env(emulator.endpoint))
    body = sample_event("TranscodeComplete")
    sdk_queue(emulator, encoding=True).send_message(Message(json.dumps(body)))
    processed_once(srv, 1)
    event = srv.events()[0]
    assert event["source"] == "mns" and event["media_id"] == body["VideoId"]
    stored = json.loads(srv.cli("events", "show", str(event["id"]), "--json").stdout)
    assert {j["handler"] for j in stored["journal"]} >= {"log", "recorder"}


def test_same_event_over_http_and_mns_is_processed_once(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    srv: Server = server_factory(mns_env(emulator.endpoint))
    body = sample_event("SnapshotComplete")
    assert srv.post(body).status_code == 200
    send_raw(emulator, [json.dumps(body)])
    wait_until(queue_empty(emulator))
    processed_once(srv, 1)
    assert srv.events()[0]["source"] == "http"


def test_poll_command_runs_mns_only(tmp_path: Path, emulator: MnsEmulator) -> None:
    srv = Server(tmp_path, mns_env(emulator.endpoint))
    no_mns = Server(tmp_path, {})
    out = no_mns.cli("poll")
    assert out.returncode != 0 and "VODHOOK_MNS_ENDPOINT" in out.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "receiver.cli", "poll"],
        env=srv.env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        send_raw(emulator, events(3))
        wait_until(lambda: len(srv.recorded()) == 3, timeout=30)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{srv.base}/healthz")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def worker_pids(srv: Server) -> set[int]:
    """The MNS worker processes of a server: its children running mns_worker."""
    assert srv.proc is not None
    pids: set[int] = set()
    for children in Path(f"/proc/{srv.proc.pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"receiver.sources.mns_worker" in cmdline and running(int(pid)):
                pids.add(int(pid))
    return pids


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_killed_worker_is_started_again_and_nothing_is_lost(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    emulator.create_queue(QUEUE, visibility_timeout=2)
    srv: Server = server_factory(mns_env(emulator.endpoint))
    (first,) = wait_until(lambda: worker_pids(srv))
    # The credentials reach the worker over its pipe, not on its command line.
    assert SK.encode() not in Path(f"/proc/{first}/cmdline").read_bytes()
    # Slow deletes keep messages received and not yet deleted when the worker dies.
    emulator.faults.add(op="BatchDeleteMessage", kind="delay", delay=0.3, times=5)
    send_raw(emulator, events(40))
    wait_until(lambda: len(db_rows(srv.db)) > 0)
    os.kill(first, signal.SIGKILL)
    (second,) = wait_until(lambda: worker_pids(srv) - {first})
    # What the dead worker held comes back after the visibility timeout: stored once.
    processed_once(srv, 40)
    wait_until(queue_empty(emulator), timeout=30)
    wait_until(lambda: httpx.get(f"{srv.base}/readyz").status_code == 200)
    metrics = httpx.get(f"{srv.base}/metrics").text
    assert 'vodhook_mns_poll_errors_total{kind="worker_exit"} 1.0' in metrics
    assert '"mns_worker_exited"' in srv.logs()
    assert worker_pids(srv) == {second}


def test_worker_dies_with_the_service_on_kill9(
    server_factory: Any, emulator: MnsEmulator
) -> None:
    srv: Server = server_factory(mns_env(emulator.endpoint, VODHOOK_MNS_POLLERS="2"))
    workers = wait_until(lambda: len(worker_pids(srv)) == 2 and worker_pids(srv))
    srv.kill9()
    # Left running, an orphaned worker would go on taking messages nobody stores.
    wait_until(lambda: not any(running(pid) for pid in workers), timeout=10)
