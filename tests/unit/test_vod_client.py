"""VodClient through the real, unmodified Tea SDK against the loopback VOD emulator.

What is proven here: typed results from real SDK parsing; retries on throttling, 5xx and
timeouts (and no retry of Submit* once VOD may have acted); typed permanent errors with VOD's
code and request id; secrets never in error text; rate caps measured on the emulator's own
request log while a backlog drains; the event loop keeps running during calls and backoff.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from receiver.errors import PermanentError, RetryableError
from receiver.sandbox.vod_emulator import VodEmulator
from receiver.settings import Settings
from receiver.vod import (
    RetryPolicy,
    VodAuthError,
    VodBadResponse,
    VodClient,
    VodForbidden,
    VodInvalidParameter,
    VodNotFound,
    VodServerError,
    VodThrottled,
    VodTransportError,
    is_idempotent,
    parse_endpoint,
)

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)
TOKEN = "sts-Token-Value-42"


def max_per_window(times: list[float], width: float = 1.0) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0
    )


def poll(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met")


@pytest.fixture
def emu() -> Iterator[VodEmulator]:
    emulator = VodEmulator(fault_seed=7).start()
    yield emulator
    emulator.stop()


def connect(emu: VodEmulator, **kwargs: Any) -> VodClient:
    options: dict[str, Any] = {
        "endpoint": emu.endpoint,
        "access_key_id": emu.access_key_id,
        "access_key_secret": emu.access_key_secret,
        "retry": FAST,
    }
    options.update(kwargs)
    return VodClient.connect(**options)


@pytest.fixture
async def vod(emu: VodEmulator) -> AsyncIterator[VodClient]:
    client = connect(emu, read_timeout=0.3)
    yield client
    await client.aclose()


# -- construction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, (None, "https")),
        ("http://127.0.0.1:9001", ("127.0.0.1:9001", "http")),
        ("https://vod.cn-shanghai.aliyuncs.com/", ("vod.cn-shanghai.aliyuncs.com", "https")),
        ("vod.ap-southeast-1.aliyuncs.com", ("vod.ap-southeast-1.aliyuncs.com", "https")),
        ("HTTP://LOCALHOST:80", ("LOCALHOST:80", "http")),
    ],
)
def test_parse_endpoint(given: str | None, expected: tuple[str | None, str]) -> None:
    assert parse_endpoint(given) == expected


@pytest.mark.parametrize("bad", ["ftp://x", "http://h/path", "http://u:p@h", "http://h?q=1"])
def test_parse_endpoint_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(bad)


def test_idempotency_rule() -> None:
    assert is_idempotent("GetPlayInfo") and is_idempotent("UpdateVideoInfo")
    assert is_idempotent("DeleteVideo") and is_idempotent("SetMessageCallback")
    assert not is_idempotent("SubmitTranscodeJobs") and not is_idempotent("CreateUploadVideo")


async def test_from_settings_with_explicit_sts_credentials() -> None:
    emulator = VodEmulator(security_token=TOKEN).start()
    try:
        settings = Settings(
            vod_endpoint=emulator.endpoint,
            vod_qps={"GetVideoInfo": 50},
            access_key_id=emulator.access_key_id,
            access_key_secret=emulator.access_key_secret,
            security_token=TOKEN,
        )
        client = VodClient.from_settings(settings)
        vid = emulator.add_video()
        assert (await client.get_video_info(vid)).status == "Normal"
        assert client.limits.rate("GetVideoInfo") == 50
        record = emulator.calls("GetVideoInfo")[-1]
        assert (record.status, record.signature) == (200, "v3")
        await client.aclose()
    finally:
        emulator.stop()


def test_half_a_key_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        VodClient.connect(access_key_id="only-the-id")


def test_without_keys_the_default_credential_chain_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    client = VodClient.from_settings(Settings(vod_region="ap-southeast-1"))
    credential = client._sdk._credential
    assert type(credential).__module__.startswith("alibabacloud_credentials")
    assert client._sdk._endpoint == "vod.ap-southeast-1.aliyuncs.com"  # region -> endpoint


# -- typed results -----------------------------------------------------------------------------


async def test_typed_reads(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video(title="Typed", definitions=("SD", "HD"), formats=("mp4", "m3u8"))
    play = await vod.get_play_info(vid, formats=["m3u8"])
    assert play.video_id == vid and play.title == "Typed" and play.status == "Normal"
    assert {(s.definition, s.format) for s in play.streams} == {("SD", "m3u8"), ("HD", "m3u8")}
    hd = next(s for s in play.streams if s.definition == "HD")
    assert hd.url.startswith("http://") and hd.bitrate == 2210.0 and hd.width == 1920
    assert hd.duration == 60.0 and hd.size and hd.encrypt is False
    video = await vod.get_video_info(vid)
    assert video.snapshots and video.cover_url in video.snapshots
    assert video.app_id == "app-1000000" and video.raw["VideoId"] == vid
    mezzanine = await vod.get_mezzanine_info(vid)
    assert mezzanine.status == "Normal" and mezzanine.file_url and mezzanine.width == 1920


async def test_writes_and_submits(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video()
    await vod.update_video_info(vid, title="New title", tags=["a", "b"])
    assert (emu.video(vid).title, emu.video(vid).tags) == ("New title", "a,b")
    transcode = await vod.submit_transcode_jobs(vid, "group-1", priority=7)
    assert len(transcode.job_ids) == 3 and transcode.task_id
    assert emu.calls("SubmitTranscodeJobs")[-1].params["Priority"] == "7"
    snapshot = await vod.submit_snapshot_job(vid, count=4, width=640, height=360)
    ai = await vod.submit_ai_job(vid, ["AIVideoTag", "AIMediaDNA"], config={"AIVideoTag": {}})
    audit = await vod.submit_ai_media_audit_job(vid)
    workflow = await vod.submit_workflow_job("wf-1", vid)
    assert len(snapshot.job_ids) == 1 and len(ai.job_ids) == 2 and len(audit.job_ids) == 1
    assert workflow.task_id and workflow.job_ids == (workflow.task_id,)
    await vod.create_audit(vid, "Blocked", "test")
    assert emu.video(vid).status == "Blocked"
    result = await vod.delete_video([vid, "missing-id"])
    assert result.non_exist_video_ids == ("missing-id",) and vid not in emu.video_ids()


async def test_message_callback_round_trip(emu: VodEmulator, vod: VodClient) -> None:
    assert await vod.get_message_callback() is None
    await vod.set_message_callback(
        callback_url="https://hooks.example.com/cb", auth_key="Abc123Key", auth_switch="on",
        event_type_list="FileUploadComplete,TranscodeComplete",
    )
    current = await vod.get_message_callback()
    assert current is not None and current.callback_url == "https://hooks.example.com/cb"
    assert (current.auth_key, current.auth_switch) == ("Abc123Key", "on")
    assert "Abc123Key" not in repr(current)
    await vod.delete_message_callback()
    assert await vod.get_message_callback() is None


async def test_generic_call(emu: VodEmulator, vod: VodClient) -> None:
    from alibabacloud_vod20170321 import models

    vid = emu.add_video()
    body = await vod.call("GetVideoInfos", {"VideoIds": f"{vid},nope"})
    assert body.non_exist_video_ids == ["nope"] and body.video_list[0].video_id == vid
    body = await vod.call("ListSnapshots", models.ListSnapshotsRequest(video_id=vid))
    assert body.media_snapshot.total == 3
    with pytest.raises(VodInvalidParameter, match="UnknownAction"):
        await vod.call("NoSuchThing", {})


# -- retries -----------------------------------------------------------------------------------


async def test_throttled_and_5xx_calls_are_retried_and_succeed(
    emu: VodEmulator, vod: VodClient
) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetVideoInfo", kind="throttle", times=1, retry_after_ms=20)
    emu.faults.add(action="GetVideoInfo", kind="server_error", times=1)
    emu.faults.add(action="GetVideoInfo", kind="server_error", status=503, times=1)
    assert (await vod.get_video_info(vid)).video_id == vid
    codes = [r.code for r in emu.calls("GetVideoInfo")]
    assert codes == ["Throttling", "InternalError", "ServiceUnAvailable", None]


async def test_a_long_retry_after_is_left_to_the_dispatcher(
    emu: VodEmulator, vod: VodClient
) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetVideoInfo", kind="throttle", times=1, retry_after_ms=5000)
    with pytest.raises(VodThrottled) as caught:
        await vod.get_video_info(vid)
    assert (caught.value.retry_after, caught.value.attempts) == (5.0, 1)
    assert isinstance(caught.value, RetryableError)


async def test_read_timeout_is_retried_for_reads(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetVideoInfo", kind="timeout", delay=0.6, times=1)
    assert (await vod.get_video_info(vid)).video_id == vid
    poll(lambda: len(emu.calls("GetVideoInfo")) == 2)  # the stalled one is logged when it ends


async def test_submit_is_not_retried_after_a_read_timeout(
    emu: VodEmulator, vod: VodClient
) -> None:
    vid = emu.add_video()
    emu.faults.add(action="SubmitSnapshotJob", kind="timeout", delay=0.6, times=1)
    with pytest.raises(VodTransportError) as caught:
        await vod.submit_snapshot_job(vid)
    error = caught.value
    assert (error.code, error.maybe_sent, error.attempts) == ("ReadTimeout", True, 1)
    assert isinstance(error, RetryableError)
    poll(lambda: emu.calls("SubmitSnapshotJob"))
    assert len(emu.calls("SubmitSnapshotJob")) == 1


async def test_submit_is_retried_when_throttled_but_not_on_5xx(
    emu: VodEmulator, vod: VodClient
) -> None:
    vid = emu.add_video()
    emu.faults.add(action="SubmitAIJob", kind="throttle", times=1)
    assert (await vod.submit_ai_job(vid, "AIVideoTag")).job_ids
    assert [r.code for r in emu.calls("SubmitAIJob")] == ["Throttling", None]
    emu.faults.add(action="SubmitTranscodeJobs", kind="server_error", times=1)
    with pytest.raises(VodServerError) as caught:
        await vod.submit_transcode_jobs(vid, "g")
    assert caught.value.attempts == 1 and len(emu.calls("SubmitTranscodeJobs")) == 1


async def test_connect_errors_are_retried_even_for_submit() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = VodClient.connect(
        endpoint=f"http://127.0.0.1:{port}", access_key_id="ak", access_key_secret="sk",
        retry=FAST,
    )
    with pytest.raises(VodTransportError) as caught:
        await client.submit_workflow_job("wf", "vid")
    assert (caught.value.code, caught.value.maybe_sent) == ("ConnectError", False)
    assert caught.value.attempts == FAST.attempts
    await client.aclose()


async def test_gives_up_after_the_attempt_budget(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetPlayInfo", kind="throttle")
    with pytest.raises(VodThrottled) as caught:
        await vod.get_play_info(vid)
    assert caught.value.attempts == FAST.attempts == len(emu.calls("GetPlayInfo"))
    assert "Throttling" in str(caught.value)


# -- typed permanent errors ------------------------------------------------------------------


async def test_permanent_errors_carry_vods_code(emu: VodEmulator, vod: VodClient) -> None:
    uploading = emu.add_video(status="Uploading")
    checking = emu.add_video(status="Checking")
    cases: list[tuple[Any, type[Exception], str, int, str]] = [
        (vod.get_video_info("nope"), VodNotFound, "InvalidVideo.NotFound", 404, "GetVideoInfo"),
        (vod.get_play_info(checking), VodForbidden, "Forbidden.IllegalStatus", 403, "GetPlayInfo"),
        (vod.submit_transcode_jobs(uploading, "g"), VodForbidden, "Forbidden.IllegalStatus", 400,
         "SubmitTranscodeJobs"),
        (vod.update_video_info(checking, title="x" * 200), VodInvalidParameter,
         "LengthExceededMax", 400, "UpdateVideoInfo"),
    ]
    for coro, kind, code, status, action in cases:
        before = len(emu.request_log)
        with pytest.raises(kind) as caught:
            await coro
        error = caught.value
        assert isinstance(error, PermanentError)
        assert (error.code, error.status, error.action) == (code, status, action)
        assert len(emu.request_log) == before + 1, "permanent errors are not retried"
        assert error.request_id == emu.request_log[-1].request_id
        assert code in str(error) and error.request_id in str(error)


async def test_none_stream_is_not_found(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video(formats=("mp4",))
    with pytest.raises(VodNotFound, match=r"InvalidVideo\.NoneStream"):
        await vod.get_play_info(vid, formats="mpd")


async def test_credentials_errors_are_retryable_and_never_show_secrets() -> None:
    emulator = VodEmulator(security_token=TOKEN).start()
    try:
        vid = emulator.add_video()
        wrong_secret = VodClient.connect(
            endpoint=emulator.endpoint, access_key_id=emulator.access_key_id,
            access_key_secret="Wrong-Secret-123", security_token=TOKEN, retry=FAST,
        )
        with pytest.raises(VodAuthError) as caught:
            await wrong_secret.get_video_info(vid)
        text = str(caught.value)
        assert "SignatureDoesNotMatch" in text and caught.value.attempts == 1
        assert "Wrong-Secret-123" not in text and TOKEN not in text
        wrong_token = VodClient.connect(
            endpoint=emulator.endpoint, access_key_id=emulator.access_key_id,
            access_key_secret=emulator.access_key_secret, security_token="Other-Token-77",
            retry=FAST,
        )
        with pytest.raises(VodAuthError, match="InvalidSecurityToken") as caught:
            await wrong_token.get_video_info(vid)
        assert "Other-Token-77" not in str(caught.value)
        assert emulator.access_key_secret not in str(caught.value)
        # and a message that did echo a secret would be scrubbed
        assert wrong_token._scrub("token Other-Token-77 here") == "token *** here"
        await wrong_secret.aclose()
        await wrong_token.aclose()
    finally:
        emulator.stop()


async def test_an_empty_body_is_an_error() -> None:
    """The SDK returns body=None (no exception) when a response does not fit its model."""

    class HollowSdk:
        def get_video_info(self, request: Any) -> Any:
            return SimpleNamespace(body=None, status_code=200)

    client = VodClient(HollowSdk(), retry=FAST)
    with pytest.raises(VodBadResponse, match="EmptyBody") as caught:
        await client.get_video_info("vid")
    assert isinstance(caught.value, RetryableError) and caught.value.attempts == 1
    await client.aclose()


# -- the event loop and the rate caps ---------------------------------------------------------


async def test_calls_and_backoff_never_block_the_loop(emu: VodEmulator, vod: VodClient) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetVideoInfo", kind="latency", delay=0.2, times=1)
    emu.faults.add(action="GetVideoInfo", kind="throttle", times=2)
    ticks = 0
    call = asyncio.create_task(vod.get_video_info(vid))
    while not call.done():
        ticks += 1
        await asyncio.sleep(0)
    await call
    assert ticks > 50  # the loop kept turning while the call waited on VOD and on backoff


async def test_backlog_stays_under_each_actions_qps_and_completes(emu: VodEmulator) -> None:
    """A burst of calls from many "handlers" sharing one client drains at <= the cap.

    A fifth of the GetVideoInfo attempts are throttled by the emulator; every call must still
    complete, and the emulator's request log (every attempt, throttled ones included, stamped
    on arrival) must never show more than QPS + burst calls in any 1-second window.

    Low rates on purpose: the bound is exact at the client (admissions >= 1/rate apart, see
    test_ratelimit), but arrival times also carry the transport's jitter; here client and
    emulator share one process and one GIL, and on an overloaded machine that jitter reaches
    100+ ms, which at 10/s still cannot push two extra calls into one window.
    """
    qps = {"GetVideoInfo": 10, "UpdateVideoInfo": 5}
    client = connect(emu, qps=qps)
    emu.faults.add(action="GetVideoInfo", kind="throttle", probability=0.2)
    vid = emu.add_video()
    reads = [client.get_video_info(vid) for _ in range(25)]
    writes = [client.update_video_info(vid, description=f"d{i}") for i in range(10)]
    results = await asyncio.gather(*reads, *writes)
    assert len(results) == 35
    assert sum(1 for r in emu.calls("GetVideoInfo") if r.code is None) == 25
    assert any(r.code == "Throttling" for r in emu.calls("GetVideoInfo"))
    for action, rate in qps.items():
        arrivals = [r.mono for r in emu.calls(action)]
        assert max_per_window(arrivals) <= rate + client.limits.burst, action
    await client.aclose()
