"""The HTTP path end to end: a real `vodhook serve` on loopback, real HTTP, real SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.events import EVENT_TYPES, sample_event
from tests.integration.security_cases import SignedSourceSecurityCases
from tests.support import AUTH_KEY, Server, signed_headers, wait_until

pytestmark = pytest.mark.integration


def count(db: Path, where: str = "1=1") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}").fetchone()[0])


def test_signed_delivery_runs_handlers_and_ends_done(server: Server) -> None:
    body = sample_event("TranscodeComplete")
    response = server.post(body)
    assert response.status_code == 200, response.text
    event_id = response.json()["id"]
    wait_until(lambda: [e for e in server.events("--status", "done") if e["id"] == event_id])
    assert [r["event_id"] for r in server.recorded()] == [event_id]
    shown = json.loads(server.cli("events", "show", str(event_id), "--json").stdout)
    assert shown["status"] == "done"
    assert {j["handler"] for j in shown["journal"]} == {"log", "recorder"}
    assert shown["body"]["VideoId"] == body["VideoId"]


def test_every_event_type_is_accepted_and_processed(server: Server) -> None:
    for event_type in (*EVENT_TYPES, "SomethingNewComplete"):
        assert server.post(sample_event(event_type)).status_code == 200, event_type
    total = len(EVENT_TYPES) + 1
    wait_until(lambda: len(server.events("--status", "done")) == total)
    assert {r["event_type"] for r in server.recorded()} == {*EVENT_TYPES, "SomethingNewComplete"}


def test_duplicate_answers_200_and_is_not_processed_again(server: Server) -> None:
    body = sample_event("FileUploadComplete")
    first = server.post(body)
    second = server.post(body)
    assert first.status_code == second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    wait_until(lambda: len(server.events("--status", "done")) == 1)
    # Reordered keys are still the same event.
    reordered = dict(reversed(list(body.items())))
    assert server.post(reordered).json() == {"status": "duplicate"}
    assert len(server.recorded()) == 1
    metrics = httpx.get(f"{server.base}/metrics").text
    assert 'vodhook_deliveries_duplicate_total{source="http"} 2.0' in metrics


class TestHttpSecurity(SignedSourceSecurityCases):
    @pytest.fixture(autouse=True)
    def _server(self, server: Server) -> None:
        self.srv = server
        self.url = server.callback_url

    def deliver(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        response = httpx.post(self.url, content=json.dumps(body), headers=headers)
        if response.status_code == 401:
            assert response.json()["error"] in {
                "missing_headers",
                "bad_signature",
                "stale_timestamp",
            }
        return response.status_code

    def stored_count(self) -> int:
        return count(self.srv.db)


def test_rejections_name_their_reason(server: Server) -> None:
    body = json.dumps(sample_event("FileUploadComplete"))
    r = httpx.post(server.callback_url, content=body)
    assert (r.status_code, r.json()["error"]) == (401, "missing_headers")
    r = httpx.post(
        server.callback_url,
        content=body,
        headers=signed_headers(server.callback_url, key="Nope12345Nope"),
    )
    assert (r.status_code, r.json()["error"]) == (401, "bad_signature")
    r = httpx.post(
        server.callback_url, content=body, headers=signed_headers(server.callback_url, timestamp=1)
    )
    assert (r.status_code, r.json()["error"]) == (401, "stale_timestamp")
    assert count(server.db) == 0
    metrics = httpx.get(f"{server.base}/metrics").text
    for reason in ("missing_headers", "bad_signature", "stale_timestamp"):
        assert (
            f'vodhook_deliveries_rejected_total{{reason="{reason}",source="http"}} 1.0' in metrics
        )


def test_oversized_body_is_413_and_not_stored(server: Server) -> None:
    big = sample_event("FileUploadComplete", {"Extend": "x" * 70_000})
    assert server.post(big).status_code == 413

    # Without Content-Length (chunked), the limit still holds while reading.
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(80):
            yield b"x" * 1024

    r = httpx.post(
        server.callback_url, content=chunks(), headers=signed_headers(server.callback_url)
    )
    assert r.status_code == 413
    assert count(server.db) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "JSON"),
        (b"[1, 2]", "object"),
        (b'{"VideoId": "x"}', "EventType"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_body_is_400_and_dead_lettered(server: Server, body: bytes, reason: str) -> None:
    r = server.post(body)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_body"
    assert reason.lower() in r.json()["detail"].lower()
    dead = server.events("--status", "dead")
    assert len(dead) == 1 and reason.lower() in dead[0]["last_error"].lower()
    assert server.recorded() == []


def test_wrong_method_and_unknown_path(server: Server) -> None:
    assert httpx.get(server.callback_url).status_code == 405
    assert httpx.post(f"{server.base}/nope", content=b"{}").status_code == 404


def test_health_ready_metrics(server: Server) -> None:
    assert httpx.get(f"{server.base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["store"] is True
    server.post(sample_event("FileUploadComplete"))
    wait_until(lambda: len(server.events("--status", "done")) == 1)
    text = httpx.get(f"{server.base}/metrics").text
    assert 'vodhook_deliveries_received_total{source="http"} 1.0' in text
    assert 'vodhook_handler_runs_total{handler="recorder",outcome="processed"} 1.0' in text
    assert "vodhook_ack_seconds_bucket" in text
    assert "vodhook_queue_depth 0.0" in text


def test_store_failure_answers_503(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv: Server = server_factory()
    assert srv.post(sample_event("FileUploadComplete")).status_code == 200
    # Make the database file unwritable underneath the running server: drop the events table
    # from another connection so the next insert fails.
    with sqlite3.connect(srv.db) as conn:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("ALTER TABLE events RENAME TO events_moved")
    r = srv.post(sample_event("FileUploadComplete"))
    assert r.status_code == 503
    assert r.json()["error"] == "store_unavailable"


def test_retries_then_done_and_permanent_goes_dead(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv: Server = server_factory(
        {"VODHOOK_TEST_FAIL": "SnapshotComplete:2", "VODHOOK_TEST_PERMANENT": "AIVideoTagComplete"}
    )
    snap = srv.post(sample_event("SnapshotComplete")).json()["id"]
    tag = srv.post(sample_event("AIVideoTagComplete")).json()["id"]
    wait_until(lambda: {e["id"]: e["status"] for e in srv.events()}.get(snap) == "done")
    wait_until(lambda: {e["id"]: e["status"] for e in srv.events()}.get(tag) == "dead")
    shown = json.loads(srv.cli("events", "show", str(snap), "--json").stdout)
    assert shown["attempts"] == 3
    assert len([e for e in shown["errors"] if e["handler"] == "recorder"]) == 2
    # The log handler succeeded on attempt 1 and was not run again.
    log_run = next(j for j in shown["journal"] if j["handler"] == "log")
    assert log_run["attempts"] == 1
    dead = json.loads(srv.cli("events", "show", str(tag), "--json").stdout)
    assert dead["attempts"] == 1 and "permanent" in dead["last_error"]


def test_retry_budget_exhausted_goes_dead_and_replay_revives(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv: Server = server_factory(
        {"VODHOOK_TEST_FAIL": "SnapshotComplete:3", "VODHOOK_MAX_ATTEMPTS": "2"}
    )
    event_id = srv.post(sample_event("SnapshotComplete")).json()["id"]
    wait_until(lambda: [e for e in srv.events("--status", "dead") if e["id"] == event_id])
    shown = json.loads(srv.cli("events", "show", str(event_id), "--json").stdout)
    assert "gave up after 2 attempts" in shown["last_error"]
    assert len(shown["errors"]) == 2
    out = srv.cli("events", "replay", "--status", "dead")
    assert "requeued 1" in out.stdout
    # The attempt budget starts again: attempts 1 and 2 fail again, so it is dead once more.
    wait_until(lambda: [e for e in srv.events("--status", "dead") if e["id"] == event_id])
    srv.stop()
    srv.env.pop("VODHOOK_TEST_FAIL")
    srv.start()
    assert "requeued 1" in srv.cli("events", "replay", str(event_id)).stdout
    wait_until(lambda: [e for e in srv.events("--status", "done") if e["id"] == event_id])
    assert [r["event_id"] for r in srv.recorded()] == [event_id]


def test_same_media_runs_in_received_order(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv: Server = server_factory({"VODHOOK_WORKERS": "8"})
    media = "a" * 32
    kinds = [
        "FileUploadComplete",
        "VideoAnalysisComplete",
        "StreamTranscodeComplete",
        "TranscodeComplete",
        "SnapshotComplete",
    ]
    others = [sample_event("FileUploadComplete") for _ in range(10)]
    ids = []
    for i, kind in enumerate(kinds):
        ids.append(srv.post(sample_event(kind, media_id=media)).json()["id"])
        srv.post(others[i])
    wait_until(lambda: len(srv.events("--status", "done")) == len(kinds) + 5)
    mine = [r["event_id"] for r in srv.recorded() if r["media_id"] == media]
    assert mine == ids


def test_kill9_with_events_pending_then_restart_finishes_them(server_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gate = tmp_path / "gate"
    srv: Server = server_factory(
        {
            "VODHOOK_TEST_GATE": str(gate),
            "VODHOOK_WORKERS": "2",
            "VODHOOK_LEASE_SECONDS": "1",
        }
    )
    acked = []
    for _ in range(20):
        r = srv.post(sample_event("FileUploadComplete"))
        assert r.status_code == 200
        acked.append(r.json()["id"])
    wait_until(lambda: len(srv.events("--status", "processing")) == 2)
    srv.kill9()
    assert srv.recorded() == []
    gate.touch()
    srv.start()
    wait_until(lambda: len(srv.events("--status", "done")) == 20, timeout=30)
    done_ids = sorted(r["event_id"] for r in srv.recorded())
    assert done_ids == sorted(acked)


def test_auth_off_requires_explicit_setting(tmp_path: Path) -> None:
    srv = Server(tmp_path, {"VODHOOK_AUTH_KEYS": ""})
    result = srv.cli("serve", "--port", str(srv.port))
    assert result.returncode != 0
    assert "VODHOOK_AUTH_KEYS" in result.stderr
    srv_off = Server(tmp_path, {"VODHOOK_AUTH_KEYS": "", "VODHOOK_AUTH": "off"}).start()
    try:
        assert srv_off.post(sample_event("FileUploadComplete"), sign=False).status_code == 200
        assert "auth_disabled" in srv_off.logs()
    finally:
        srv_off.stop()


def test_send_command_signs_like_vod(server: Server) -> None:
    out = server.cli(
        "send",
        "StreamTranscodeComplete",
        "--url",
        server.callback_url,
        "--key",
        AUTH_KEY,
        "--set",
        "Definition=HD",
        "--set",
        "Size=123",
    )
    assert out.returncode == 0, out.stderr
    assert "HTTP 200" in out.stdout
    assert AUTH_KEY not in out.stdout + out.stderr
    wait_until(lambda: len(server.events("--status", "done")) == 1)
    body = json.loads(server.cli("events", "show", "1", "--json").stdout)["body"]
    assert body["Definition"] == "HD" and body["Size"] == 123
    bad = server.cli(
        "send", "FileUploadComplete", "--url", server.callback_url, "--key", "Wrong1xyzABC"
    )
    assert bad.returncode != 0 and "401" in bad.stdout


def test_routes_command_lists_handlers(server: Server) -> None:
    out = server.cli("routes", "--json")
    data = json.loads(out.stdout)
    names = [r["name"] for r in data["routes"]]
    assert names[:2] == ["log", "recorder"]


def test_secrets_never_logged(server: Server) -> None:
    server.post(sample_event("FileUploadComplete"))
    server.post(
        sample_event("FileUploadComplete"),
        headers=signed_headers(server.callback_url, key="Bad1234keyZZ"),
    )
    wait_until(lambda: len(server.events("--status", "done")) == 1)
    assert AUTH_KEY not in server.logs()
