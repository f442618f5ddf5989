"""Issue 6.5: the AuthKey, the AccessKey secret and the STS token never leak.

A full run with distinctive secret values: signed HTTP deliveries (some with a wrong key),
VOD's own deliveries from the emulator, MNS messages, VOD API calls (with throttling,
server errors and a permanent error), dead letters, and a second process whose credentials
both emulators reject. Everything the operator can see afterwards is searched for the three
values: every log line of every process (at VODHOOK_LOG_LEVEL=DEBUG), every column of every
row of every table of every SQLite file (as bytes, plus the raw database files), and the
output of the CLI commands.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import httpx
import pytest

from receiver.sandbox.mns_emulator import MnsEmulator
from receiver.sandbox.vod_emulator import VodEmulator
from tests.reliability.conftest import (
    AK_ID,
    AK_SECRET,
    QUEUE,
    STS_TOKEN,
    ScenarioCounts,
    effects_for,
    event_body,
    mns_send,
    service_env,
    summarise_effects,
    video_ids,
    wait_all_settled,
)
from tests.support import Server, signed_headers, wait_until

pytestmark = pytest.mark.reliability

AUTH = "AuthKEYrel1abQz7"  # a valid VOD AuthKey: upper, lower, digits, <= 32 characters
SECRETS = {"AuthKey": AUTH, "AccessKey secret": AK_SECRET, "STS token": STS_TOKEN}


def leaks(text: bytes | str) -> list[str]:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return [name for name, value in SECRETS.items() if value.encode() in data]


def db_leaks(db: Path) -> list[str]:
    """Every value of every row of every table, as bytes."""
    found: list[str] = []
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # own schema
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    found += [f"{db.name}:{table}:{name}" for name in leaks(raw)]
    finally:
        conn.close()
    for path in db.parent.glob(db.name + "*"):  # the file, its WAL and shared memory
        found += [f"{path.name}:{name}" for name in leaks(path.read_bytes())]
    return found


def has_setup_command(srv: Server) -> bool:
    return srv.cli("setup", "--help").returncode == 0


def test_no_secret_in_logs_rows_or_cli_output(
    tmp_path: Path,
    vod: VodEmulator,
    mns: MnsEmulator,
    rng: random.Random,
    tally: ScenarioCounts,
) -> None:
    tally.scenario = "secrets scan"
    effects = effects_for()
    media = video_ids(rng, 60)
    for m in media[:55]:
        vod.add_video(m)
    # media[55:] are never added: a VOD handler gets InvalidVideo.NotFound for them.
    vod.faults.add(kind="throttle", probability=0.2)
    vod.faults.add(kind="server_error", probability=0.1)
    mns.faults.add(op="BatchReceiveMessage", kind="error", code="InternalError", times=2)
    mns.faults.add(op="BatchDeleteMessage", kind="drop", times=1, drop_after_dequeue=False)
    debug = {"VODHOOK_AUTH_KEYS": AUTH, "VODHOOK_LOG_LEVEL": "DEBUG"}
    main_dir = tmp_path / "main"
    main_dir.mkdir()
    srv = Server(main_dir, service_env(main_dir, effects, vod=vod, mns=mns, extra=debug))
    # A second process whose credentials neither emulator accepts.
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    other_mns = MnsEmulator(access_key_id=AK_ID, access_key_secret="another-secret-1").start()
    other_mns.create_queue(QUEUE)
    other_vod = VodEmulator(
        access_key_id=AK_ID, access_key_secret="another-secret-2", security_token="another-3"
    ).start()
    bad = Server(bad_dir, service_env(bad_dir, effects, vod=other_vod, mns=other_mns, extra=debug))
    outputs: dict[str, str] = {}
    try:
        srv.start()
        bad.start()
        vod.set_callback(callback_url=srv.callback_url, auth_key=AUTH)
        http_media, mns_media = media[:30], media[30:]
        with httpx.Client(timeout=10) as client:
            for m in http_media:
                r = client.post(
                    srv.callback_url,
                    content=event_body(m),
                    headers=signed_headers(srv.callback_url, key=AUTH),
                )
                assert r.status_code == 200, r.text
            for _ in range(3):  # a wrong key and a bad body
                r = client.post(
                    srv.callback_url,
                    content=event_body(media[0]),
                    headers=signed_headers(srv.callback_url, key="Wrong" + AUTH),
                )
                assert r.status_code == 401
            r = client.post(
                srv.callback_url,
                content=b"{not json",
                headers=signed_headers(srv.callback_url, key=AUTH),
            )
            assert r.status_code == 400
            r = client.post(
                bad.callback_url,
                content=event_body(media[0]),
                headers=signed_headers(bad.callback_url, key=AUTH),
            )
            assert r.status_code == 200
        mns_send(mns, [event_body(m).decode() for m in mns_media], rng)
        # VOD itself delivers too: the emulator signs its callbacks with the AuthKey.
        uploaded = vod.upload(title="secret-scan")
        vod.wait_idle(timeout=20)
        wait_until(lambda: mns.queue_snapshot(QUEUE).total == 0, timeout=60)
        final = wait_all_settled(srv.db, media, timeout=90)
        wait_until(lambda: "mns_poll_error" in bad.logs(), timeout=30)
        for name, srv_ in (("main", srv), ("bad", bad)):
            for args in (
                ("events", "list", "--json", "--limit", "100000"),
                ("routes",),
                ("routes", "--json"),
            ):
                out = srv_.cli(*args)
                outputs[f"{name}: {' '.join(args)}"] = out.stdout + out.stderr
            listed = json.loads(srv_.cli("events", "list", "--json").stdout)
            # Every dead letter and retrying event (they carry error texts), and a few more.
            ids = [e["id"] for e in listed if e["status"] != "done"][:12]
            ids += [e["id"] for e in listed if e["status"] == "done"][:3]
            for event_id in ids:
                out = srv_.cli("events", "show", str(event_id), "--json")
                outputs[f"{name}: events show {event_id}"] = out.stdout + out.stderr
        send = srv.cli("send", "FileUploadComplete", "--url", srv.callback_url)
        outputs["send"] = send.stdout + send.stderr
        assert send.returncode == 0, send.stdout + send.stderr
        if has_setup_command(srv):
            for command in (("setup", "show"), ("setup", "show", "--json")):
                out = srv.cli(*command)
                outputs[" ".join(command)] = out.stdout + out.stderr
    finally:
        srv.stop()
        bad.stop()
        other_mns.stop()
        other_vod.stop()

    found: list[str] = []
    for log in [*main_dir.glob("server-*.log"), *bad_dir.glob("server-*.log")]:
        for number, line in enumerate(log.read_bytes().splitlines(), 1):
            found += [f"{log.name}:{number}: {name}" for name in leaks(line)]
    for db in (srv.db, bad.db):
        found += db_leaks(db)
    for name, text in outputs.items():
        found += [f"`{name}`: {secret}" for secret in leaks(text)]

    counts = effects.count(vod)
    total, repeats, _ = summarise_effects(counts, media)
    tally.sent = len(media) + 1
    tally.deliveries = len(media) + 5
    tally.acknowledged = len(media)
    tally.done = sum(1 for s in final.values() if s == "done")
    tally.dead = sum(1 for s in final.values() if s == "dead")
    tally.effects = total
    tally.repeated_effects = repeats
    tally.notes = (
        f"effects={effects.kind}; scanned {len(outputs)} CLI outputs "
        f"({'with' if any(k.startswith('setup') for k in outputs) else 'no'} setup show), "
        "2 logs, 2 databases; "
        f"VOD calls {len(vod.request_log)} (+{len(other_vod.request_log)} rejected); "
        f"uploaded {uploaded}; leaks found: {len(found)}"
    )
    assert not found, "secrets found:\n" + "\n".join(found[:50])


def test_sdk_debug_output_is_scrubbed(
    tmp_path: Path, vod: VodEmulator, rng: random.Random, tally: ScenarioCounts
) -> None:
    """DEBUG=sdk is the Alibaba Cloud SDKs' documented switch for printing each request.

    The VOD SDK (darabonba-core) then logs every request's headers, among them
    x-acs-security-token, through a StreamHandler it attaches to its logger when it is
    imported. receiver/logs.py removes that handler, but only if the SDK was imported before
    configure_logging() ran; the VOD client imports the SDK lazily, later, so the raw handler
    comes back and prints the STS token to stderr, unscrubbed.
    """
    tally.scenario = "secrets scan, DEBUG=sdk"
    effects = effects_for()
    media = video_ids(rng, 5)
    for m in media:
        vod.add_video(m)
    srv = Server(
        tmp_path,
        service_env(tmp_path, effects, vod=vod, extra={"VODHOOK_AUTH_KEYS": AUTH, "DEBUG": "sdk"}),
    ).start()
    try:
        with httpx.Client(timeout=10) as client:
            for m in media:
                r = client.post(
                    srv.callback_url,
                    content=event_body(m),
                    headers=signed_headers(srv.callback_url, key=AUTH),
                )
                assert r.status_code == 200
        final = wait_all_settled(srv.db, media, timeout=30)
    finally:
        srv.stop()
    found = [
        f"line {number}: {name}: {line[:120]!r}"
        for number, line in enumerate(srv.logs().splitlines(), 1)
        for name in leaks(line)
    ]
    counts = effects.count(vod)
    total, repeats, _ = summarise_effects(counts, media)
    tally.sent = tally.deliveries = tally.acknowledged = len(media)
    tally.done = sum(1 for s in final.values() if s == "done")
    tally.effects = total
    tally.repeated_effects = repeats
    tally.notes = f"effects={effects.kind}; log lines with a secret: {len(found)}"
    assert not found, "secrets in the server log:\n" + "\n".join(found[:10])
