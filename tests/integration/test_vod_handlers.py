"""The VOD built-in handlers, through a real VodClient and the real SDK against the emulator.

Two levels: each handler called directly with a HandlerContext built here (payloads taken from
what the emulator itself emits, so they have VOD's real shapes), and whole chains through a
real `vodhook serve` subprocess that the emulator delivers signed callbacks to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from handlers.forward import forward, webhook_id
from handlers.guard import guard_required, verify_with_api
from handlers.moderate import moderate
from handlers.play_info import play_info
from handlers.set_cover import set_cover
from handlers.start_workflow import start_workflow
from receiver import HandlerContext, PermanentError, RetryableError
from receiver.events import parse_event, sample_event
from receiver.logs import get_logger
from receiver.sandbox.vod_emulator import VodEmulator
from receiver.settings import ChainSettings, Settings
from receiver.vod import RetryPolicy, VodClient, VodNotFound, VodTransportError
from tests.support import AUTH_KEY, Server, wait_until

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"forward-test-secret-0123456789ab").decode()


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[VodEmulator]:
    emulator = VodEmulator(retry_spacing=0.05).start()
    yield emulator
    emulator.stop()


@pytest.fixture
async def vod(emu: VodEmulator) -> AsyncIterator[VodClient]:
    client = VodClient.connect(
        endpoint=emu.endpoint,
        access_key_id=emu.access_key_id,
        access_key_secret=emu.access_key_secret,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.05),
        read_timeout=0.3,
    )
    yield client
    await client.aclose()


def ctx_for(
    vod: VodClient | None,
    event: dict[str, Any],
    options: dict[str, Any] | None = None,
    *,
    results: dict[str, Any] | None = None,
    chains: list[ChainSettings] | None = None,
    handler: str = "",
) -> HandlerContext:
    return HandlerContext(
        event=parse_event(event),
        event_id=1,
        attempt=1,
        source="http",
        log=get_logger(),
        settings=Settings(chains=chains or []),
        results=results or {},
        options=options or {},
        vod=vod,
        handler=handler,
    )


def emitted(emu: VodEmulator, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    """Payloads the emulator emitted (delivered or not), waiting until `count` exist."""

    def found() -> list[dict[str, Any]]:
        events = [e.payload for e in emu.emitted if e.event_type == event_type]
        return events if len(events) >= count else []

    return wait_until(found, timeout=10)  # type: ignore[no-any-return]


class Hooks:
    """A webhook endpoint on loopback: records requests, answers queued statuses (else 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: deque[int] = deque()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                hooks.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = hooks.statuses.popleft() if hooks.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vod?token=abc"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    receiver = Hooks()
    yield receiver
    receiver.close()


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> None:
    """Standard Webhooks verification, written from the spec, independent of forward.py."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    versions = dict(sig.split(",", 1) for sig in headers["webhook-signature"].split(" "))
    assert hmac.compare_digest(versions["v1"], expected)
    assert abs(time.time() - int(timestamp)) < 300


# -- play_info ---------------------------------------------------------------------------------


async def test_play_info_returns_the_streams(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.upload(title="Play me", definitions=("SD", "HD"), formats=("mp4", "m3u8"))
    event = emitted(emu, "TranscodeComplete")[0]
    result = await play_info(ctx_for(vod, event))
    assert result is not None and result["video_id"] == vid and result["playable"] is True
    assert result["title"] == "Play me" and result["duration"] == 60.0
    streams = {(s["definition"], s["format"]): s for s in result["streams"]}
    assert set(streams) == {("SD", "mp4"), ("SD", "m3u8"), ("HD", "mp4"), ("HD", "m3u8")}
    hd = streams[("HD", "m3u8")]
    assert hd["url"].startswith("http://") and hd["bitrate"] > 0 and hd["size"] > 0
    json.dumps(result)  # journal-able
    only = await play_info(ctx_for(vod, event, {"formats": "mp4", "definition": ["HD"]}))
    assert only is not None and [(s["definition"], s["format"]) for s in only["streams"]] == [
        ("HD", "mp4")
    ]


async def test_play_info_for_unplayable_missing_and_failed(
    emu: VodEmulator, vod: VodClient
) -> None:
    checking = emu.add_video(status="Checking")
    result = await play_info(ctx_for(vod, sample_event("TranscodeComplete", media_id=checking)))
    assert result == {"video_id": checking, "playable": False,
                      "reason": "Forbidden.IllegalStatus", "streams": []}
    mp4_only = emu.add_video(formats=("mp4",))
    event = sample_event("TranscodeComplete", media_id=mp4_only)
    result = await play_info(ctx_for(vod, event, {"formats": ["mpd"]}))
    assert result is not None and result["reason"] == "InvalidVideo.NoneStream"
    with pytest.raises(VodNotFound):
        await play_info(ctx_for(vod, sample_event("TranscodeComplete", media_id="gone")))
    failed = sample_event("TranscodeComplete", {"Status": "fail"}, media_id=mp4_only)
    assert await play_info(ctx_for(vod, failed)) == {"skipped": "the event reports a failure"}


async def test_handlers_without_a_client_fail_retryably() -> None:
    with pytest.raises(RetryableError, match="no VOD client"):
        await play_info(ctx_for(None, sample_event("TranscodeComplete")))


# -- set_cover ---------------------------------------------------------------------------------


async def test_set_cover_applies_a_snapshot_to_a_vod_cover(
    emu: VodEmulator, vod: VodClient
) -> None:
    vid = emu.add_video()
    auto_cover = emu.video(vid).cover_url
    await vod.submit_snapshot_job(vid, count=4)
    event = emitted(emu, "SnapshotComplete")[0]
    assert event["SubType"] == "SpecifiedTime"
    result = await set_cover(ctx_for(vod, event, {"pick": "last"}))
    last = event["SnapshotInfos"][0]["SnapshotRegular"].replace("{SnapshotCount}", "00004")
    assert result == {"action": "set", "cover_url": last, "previous": auto_cover}
    assert emu.video(vid).cover_url == last
    # the cover this handler set is still VOD's own snapshot, so a later one may replace it
    again = await set_cover(ctx_for(vod, event, {"pick": "first"}))
    assert again["action"] == "set"
    same = await set_cover(ctx_for(vod, event, {"pick": "first"}))
    assert same["action"] == "unchanged"
    assert len(emu.calls("UpdateVideoInfo")) == 2


async def test_set_cover_keeps_a_user_cover_unless_overwrite(
    emu: VodEmulator, vod: VodClient
) -> None:
    mine = "https://img.example.com/covers/mine.jpg"
    vid = emu.add_video(cover_url=mine)
    await vod.submit_snapshot_job(vid, count=2)
    event = emitted(emu, "SnapshotComplete")[0]
    kept = await set_cover(ctx_for(vod, event, {"pick": "middle"}))
    assert kept["action"] == "kept" and emu.video(vid).cover_url == mine
    assert not emu.calls("UpdateVideoInfo")
    forced = await set_cover(ctx_for(vod, event, {"pick": "middle", "overwrite": True}))
    assert forced["action"] == "set" and emu.video(vid).cover_url != mine


async def test_set_cover_from_an_ai_result_field(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video()
    url = "https://img.example.com/ai/best-frame.jpg"
    event = {"EventType": "AIImageComplete", "MediaId": vid, "Status": "success",
             "Data": json.dumps({"Images": [{"Url": url}]})}
    result = await set_cover(ctx_for(vod, event, {"url_field": "Data.Images.0.Url"}))
    assert result["action"] == "set" and emu.video(vid).cover_url == url
    with pytest.raises(PermanentError, match="url_field"):
        await set_cover(ctx_for(vod, event))
    bad = {**event, "Data": json.dumps({"Images": [{"Url": "javascript:alert(1)"}]})}
    with pytest.raises(PermanentError, match="http"):
        await set_cover(ctx_for(vod, bad, {"url_field": "Data.Images.0.Url"}))


# -- start_workflow ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "action", "params"),
    [
        ({"action": "workflow", "workflow_id": "wf-1"}, "SubmitWorkflowJob",
         {"WorkflowId": "wf-1"}),
        ({"action": "transcode", "template_group_id": "tg-1", "priority": 8},
         "SubmitTranscodeJobs", {"TemplateGroupId": "tg-1", "Priority": "8"}),
        ({"action": "snapshot", "count": 5, "interval": 2}, "SubmitSnapshotJob",
         {"Count": "5", "Interval": "2"}),
        ({"action": "ai", "types": ["AIVideoTag"], "config": {"AIVideoTag": {"x": 1}}},
         "SubmitAIJob", {"Types": "AIVideoTag", "Config": '{"AIVideoTag":{"x":1}}'}),
        ({"action": "SubmitAIMediaAuditJob", "media_type": "video"}, "SubmitAIMediaAuditJob",
         {"MediaType": "video"}),
    ],
)
async def test_start_workflow_submits_the_configured_job(
    emu: VodEmulator, vod: VodClient, options: dict[str, Any], action: str,
    params: dict[str, str],
) -> None:
    vid = emu.add_video(status="UploadSucc")
    for event_type in ("FileUploadComplete", "UploadByURLComplete"):
        event = sample_event(event_type, {"VideoId": vid})
        result = await start_workflow(ctx_for(vod, event, options))
        assert result["action"] == action and result["job_ids"], result
        sent = emu.calls(action)[-1]
        assert sent.status == 200
        assert {k: sent.params.get(k) for k in params} == params
        assert vid in (sent.params.get("VideoId"), sent.params.get("MediaId"))


async def test_start_workflow_config_errors_and_uncertain_submits(
    emu: VodEmulator, vod: VodClient
) -> None:
    vid = emu.add_video(status="UploadSucc")
    event = sample_event("FileUploadComplete", media_id=vid)
    with pytest.raises(PermanentError, match="template_group_id"):
        await start_workflow(ctx_for(vod, event, {"action": "transcode"}))
    with pytest.raises(PermanentError, match="unknown action"):
        await start_workflow(ctx_for(vod, event, {"action": "encode"}))
    emu.faults.add(action="SubmitWorkflowJob", kind="timeout", delay=0.6, times=2)
    options = {"action": "workflow", "workflow_id": "wf"}
    with pytest.raises(VodTransportError):  # retryable: the dispatcher may try again
        await start_workflow(ctx_for(vod, event, options))
    with pytest.raises(PermanentError, match="on_uncertain"):
        await start_workflow(ctx_for(vod, event, {**options, "on_uncertain": "dead"}))
    wait_until(lambda: len(emu.calls("SubmitWorkflowJob")) == 2)  # one try each, no retry
    failed = sample_event("UploadByURLComplete", {"Status": "fail"})
    skipped = await start_workflow(ctx_for(vod, failed, options))
    assert skipped["skipped"] == "the event reports a failure"


# -- moderate ----------------------------------------------------------------------------------


async def audit_event(emu: VodEmulator, vod: VodClient, vid: str, suggestion: str) -> Any:
    emu.next_audit_suggestion = suggestion
    await vod.submit_ai_media_audit_job(vid)
    return [e for e in emitted(emu, "AIMediaAuditComplete") if e["MediaId"] == vid][-1]


async def test_moderate_blocks_tags_deletes_or_passes(emu: VodEmulator, vod: VodClient) -> None:
    blocked = emu.add_video()
    event = await audit_event(emu, vod, blocked, "block")
    result = await moderate(ctx_for(vod, event))
    assert result == {"suggestion": "block", "label": "porn", "action": "audit", "done": True,
                      "audit_status": "Blocked"}
    assert (emu.video(blocked).status, emu.video(blocked).audit_status) == ("Blocked", "Blocked")

    reviewed = emu.add_video(tags="existing")
    event = await audit_event(emu, vod, reviewed, "review")
    options = {"review": "tag", "review_tag": "needs-human"}
    assert (await moderate(ctx_for(vod, event, options)))["changed"] is True
    assert emu.video(reviewed).tags == "existing,needs-human"
    assert (await moderate(ctx_for(vod, event, options)))["changed"] is False

    doomed = emu.add_video()
    event = await audit_event(emu, vod, doomed, "block")
    assert (await moderate(ctx_for(vod, event, {"block": "delete"})))["done"] is True
    assert doomed not in emu.video_ids()
    again = await moderate(ctx_for(vod, event, {"block": "delete"}))
    assert again["already_gone"] is True

    fine = emu.add_video()
    event = await audit_event(emu, vod, fine, "pass")
    before = len(emu.request_log)
    assert (await moderate(ctx_for(vod, event)))["done"] is False
    assert len(emu.request_log) == before
    with pytest.raises(PermanentError, match="block"):
        await moderate(ctx_for(vod, event, {"block": "shred"}))


# -- forward -----------------------------------------------------------------------------------


async def test_forward_signs_per_standard_webhooks(
    emu: VodEmulator, vod: VodClient, hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VODHOOK_TEST_WHSEC", SECRET)
    vid = emu.upload()
    event = emitted(emu, "TranscodeComplete")[0]
    info = await play_info(ctx_for(vod, event))
    options = {"url": hooks.url, "secret_env": "VODHOOK_TEST_WHSEC", "headers": {"x-env": "t"}}
    ctx = ctx_for(vod, event, options, results={"play_info": info})
    result = await forward(ctx)
    assert result["status"] == 200 and result["url"].endswith("/hooks/vod")
    headers, body = hooks.requests[-1]
    verify_standard_webhook(SECRET, headers, body)
    assert headers["webhook-id"] == webhook_id(ctx.event) == result["webhook_id"]
    assert headers["content-type"] == "application/json" and headers["x-env"] == "t"
    payload = json.loads(body)
    assert payload["type"] == "TranscodeComplete"
    assert payload["data"]["event"]["VideoId"] == vid
    assert payload["data"]["play_info"] == info
    assert payload["data"]["vodhook"]["event_id"] == 1
    # same event again (a retry or a replay): same id, fresh timestamp and signature
    await forward(ctx_for(vod, event, {**options, "secret": SECRET}))
    assert hooks.requests[-1][0]["webhook-id"] == headers["webhook-id"]
    other = await forward(ctx_for(vod, sample_event("TranscodeComplete"), options))
    assert other["webhook_id"] != headers["webhook-id"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, RetryableError), (503, RetryableError), (429, RetryableError), (408, RetryableError),
     (302, RetryableError), (400, PermanentError), (404, PermanentError), (410, PermanentError)],
)
async def test_forward_maps_answers_to_retry_or_dead(
    hooks: Hooks, status: int, error: type[Exception]
) -> None:
    hooks.statuses.append(status)
    ctx = ctx_for(None, sample_event("FileUploadComplete"), {"url": hooks.url, "secret": SECRET})
    with pytest.raises(error, match=str(status)) as caught:
        await forward(ctx)
    assert "token=abc" not in str(caught.value)  # the query may carry a credential


async def test_forward_network_and_config_errors(hooks: Hooks) -> None:
    event = sample_event("FileUploadComplete")
    closed = hooks.url
    hooks.close()
    with pytest.raises(RetryableError, match="failed"):
        await forward(ctx_for(None, event, {"url": closed, "secret": SECRET, "timeout": 2.0}))
    with pytest.raises(PermanentError, match="secret"):
        await forward(ctx_for(None, event, {"url": closed}))
    with pytest.raises(PermanentError, match="NO_SUCH_VARIABLE"):
        await forward(ctx_for(None, event, {"url": closed, "secret_env": "NO_SUCH_VARIABLE"}))
    with pytest.raises(PermanentError, match="base64"):
        await forward(ctx_for(None, event, {"url": closed, "secret": "whsec_***"}))
    with pytest.raises(PermanentError, match="url"):
        await forward(ctx_for(None, event, {"url": "ftp://x", "secret": SECRET}))


# -- verify_with_api and the refusal of side effects -------------------------------------------


async def test_guard_passes_consistent_events(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.upload()
    for event_type in ("FileUploadComplete", "TranscodeComplete", "SnapshotComplete"):
        event = emitted(emu, event_type)[0]
        result = await verify_with_api(ctx_for(vod, event))
        assert result["passed"] is True and result["checked"] is True
        assert result["status"] == "Normal" and result["media_id"] == vid
    mezzanine = await verify_with_api(ctx_for(vod, event, {"api": "mezzanine"}))
    assert mezzanine["api"] == "GetMezzanineInfo" and mezzanine["passed"] is True
    await vod.delete_video(vid)
    deleted = emitted(emu, "DeleteMediaComplete")[0]
    assert (await verify_with_api(ctx_for(vod, deleted)))["exists"] is False


async def test_guard_rejects_contradictions(emu: VodEmulator, vod: VodClient) -> None:
    uploading = emu.add_video(status="Uploading")
    normal = emu.add_video()
    cases = [
        (sample_event("TranscodeComplete", media_id="no-such-video"), {}, "no such media"),
        (sample_event("TranscodeComplete", media_id=uploading), {}, "Uploading"),
        (sample_event("SnapshotComplete", media_id=uploading), {"api": "mezzanine"}, "Uploading"),
        (sample_event("TranscodeComplete", {"AppId": "app-2000000"}, media_id=normal), {},
         "AppId"),
        (sample_event("DeleteMediaComplete", {"DeleteType": "all", "MediaType": "video"},
                      media_id=normal), {}, "still has it"),
        (sample_event("ImageUploadComplete"), {}, "cannot verify"),
    ]
    for event, options, reason in cases:
        with pytest.raises(PermanentError, match=reason):
            await verify_with_api(ctx_for(vod, event, options))
    image = sample_event("ImageUploadComplete")
    passed = await verify_with_api(ctx_for(vod, image, {"unverifiable": "pass"}))
    assert passed["passed"] is True and passed["checked"] is False
    app_ok = sample_event("TranscodeComplete", {"AppId": "app-2000000"}, media_id=normal)
    assert (await verify_with_api(ctx_for(vod, app_ok, {"check_app_id": False})))["passed"]


async def test_side_effects_refuse_unless_the_guard_passed(
    emu: VodEmulator, vod: VodClient, hooks: Hooks
) -> None:
    vid = emu.add_video()
    chains = [
        ChainSettings(on=["*"], run=["verify_with_api", "set_cover", "start_workflow",
                                     "moderate", "forward"]),
    ]
    cases = [
        (set_cover, sample_event("SnapshotComplete", media_id=vid), {}),
        (start_workflow, sample_event("FileUploadComplete", media_id=vid),
         {"action": "workflow", "workflow_id": "wf"}),
        (moderate, sample_event("AIMediaAuditComplete", media_id=vid), {}),
        (forward, sample_event("TranscodeComplete", media_id=vid),
         {"url": hooks.url, "secret": SECRET}),
    ]
    before = len(emu.request_log)
    for step, (handler, event, options) in enumerate(cases, start=1):
        name = f"chain0.{step}.{handler.__name__}"
        for results in ({}, {"verify_with_api": {"passed": False}}):
            ctx = ctx_for(vod, event, options, results=results, chains=chains, handler=name)
            with pytest.raises(RetryableError, match="verify_with_api has not passed"):
                await handler(ctx)
    assert len(emu.request_log) == before and not hooks.requests
    # with the guard's pass on record, the same calls go through
    passed = {"verify_with_api": {"passed": True}}
    ctx = ctx_for(vod, cases[3][1], cases[3][2], results=passed, chains=chains,
                  handler="chain0.4.forward")
    assert (await forward(ctx))["status"] == 200


def test_guard_reach_follows_chain_position_and_match() -> None:
    event = sample_event("TranscodeComplete")
    after = [ChainSettings(on=["TranscodeComplete"], run=["set_cover", "verify_with_api"])]
    other = [ChainSettings(on=["FileUploadComplete"], run=["verify_with_api", "set_cover"])]
    failed_only = [ChainSettings(on=["*"], status="fail", run=["verify_with_api", "set_cover"])]
    earlier = [ChainSettings(on=["*"], run=["verify_with_api"]),
               ChainSettings(on=["TranscodeComplete"], run=["set_cover"])]
    assert not guard_required(ctx_for(None, event, chains=after, handler="chain0.0.set_cover"))
    assert not guard_required(ctx_for(None, event, chains=other, handler="chain0.1.set_cover"))
    assert not guard_required(
        ctx_for(None, event, chains=failed_only, handler="chain0.1.set_cover")
    )
    assert guard_required(ctx_for(None, event, chains=earlier, handler="chain1.0.set_cover"))
    assert guard_required(ctx_for(None, event, {"require_guard": True}))


# -- whole chains through `vodhook serve` ------------------------------------------------------


def test_chains_end_to_end_through_vodhook_serve(
    tmp_path: Path, server_factory: Any, emu: VodEmulator, hooks: Hooks
) -> None:
    """Upload -> guard -> snapshot job -> new cover; transcode -> play URLs -> signed forward;
    forged events dead-letter at the guard and cause no side effect.

    Needs the service to build its VOD client (VodClient.from_settings in receiver/service.py).
    """
    config = tmp_path / "vodhook.toml"
    config.write_text(
        f"""
vod_qps = {{ GetVideoInfo = 50, SubmitSnapshotJob = 5 }}

[[chains]]
on = ["FileUploadComplete"]
status = "success"
run = ["verify_with_api", {{ handler = "start_workflow", action = "snapshot", count = 3 }}]

[[chains]]
on = ["TranscodeComplete"]
status = "success"
run = ["verify_with_api", "play_info",
       {{ handler = "forward", url = "{hooks.url}", secret_env = "VODHOOK_TEST_WHSEC" }}]

[[chains]]
on = ["SnapshotComplete"]
status = "success"
run = ["verify_with_api", {{ handler = "set_cover", pick = "last" }}]
"""
    )
    server: Server = server_factory(
        env={
            "VODHOOK_CONFIG": str(config),
            "VODHOOK_VOD_ENDPOINT": emu.endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": emu.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": emu.access_key_secret,
            "VODHOOK_TEST_WHSEC": SECRET,
        }
    )
    emu.set_callback(server.callback_url, auth_key=AUTH_KEY)
    vid = emu.upload(title="End to end")
    # FileUploadComplete, 3 x StreamTranscodeComplete, TranscodeComplete, SnapshotComplete,
    # then the SnapshotComplete of the snapshot job start_workflow submitted
    def all_done() -> bool:
        records = server.events()
        assert not [r for r in records if "no VOD client" in (r["last_error"] or "")], (
            "the server has no VOD client: receiver/service.py must pass "
            "VodClient.from_settings(settings) to the Dispatcher"
        )
        return sum(r["status"] == "done" for r in records) == 7

    wait_until(all_done, timeout=30)
    assert not server.events("--status", "dead"), server.logs()

    submitted = emu.calls("SubmitSnapshotJob")
    assert [(r.params["VideoId"], r.params["Count"]) for r in submitted] == [(vid, "3")]
    specified = next(e for e in emitted(emu, "SnapshotComplete", 2) if e.get("SubType"))
    regular = specified["SnapshotInfos"][0]["SnapshotRegular"]
    assert emu.video(vid).cover_url == regular.replace("{SnapshotCount}", "00003")

    assert len(hooks.requests) == 1
    headers, body = hooks.requests[0]
    verify_standard_webhook(SECRET, headers, body)
    payload = json.loads(body)
    assert payload["type"] == "TranscodeComplete" and payload["data"]["event"]["VideoId"] == vid
    assert len(payload["data"]["play_info"]["streams"]) == 3

    transcode = server.events("--type", "TranscodeComplete")[0]
    shown = json.loads(server.cli("events", "show", str(transcode["id"]), "--json").stdout)
    journal = {j["handler"]: j for j in shown["journal"]}
    streams = journal["chain1.1.play_info"]["result"]["streams"]
    assert {s["definition"] for s in streams} == {"LD", "SD", "HD"} and streams[0]["url"]
    assert journal["chain1.2.forward"]["result"]["status"] == 200

    # forged: a video VOD does not have, and one still uploading
    uploading = emu.add_video(status="Uploading")
    for media in ("forged-video-id", uploading):
        assert server.post(sample_event("TranscodeComplete", media_id=media)).status_code == 200
    dead = wait_until(lambda: len(server.events("--status", "dead")) == 2 and
                      server.events("--status", "dead"), timeout=30)
    for record in dead:
        shown = json.loads(server.cli("events", "show", str(record["id"]), "--json").stdout)
        journal = {j["handler"]: j for j in shown["journal"]}
        assert journal["chain1.0.verify_with_api"]["status"] == "failed"
        assert "verify_with_api" in shown["last_error"]
        assert journal["chain1.2.forward"]["status"] == "failed"
        assert "has not passed" in journal["chain1.2.forward"]["error"]
    assert len(hooks.requests) == 1
