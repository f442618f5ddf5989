"""The VOD emulator, exercised through the real, unmodified Tea SDK (sync and async).

Why through the SDK: the emulator is only useful if the SDK accepts it exactly as it accepts the
cloud. A response whose shape differs from the SDK model parses into an empty body without any
error, so every test here asserts that the typed body and the fields a handler needs are set.
"""

from __future__ import annotations

import os

# Before any alibabacloud import: the credentials package reads these once, at import time,
# and without them a missing credential would make it contact the ECS metadata address.
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")

import asyncio
import base64
import hashlib
import hmac
import http.client
import io
import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi import utils as open_api_utils
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
from alibabacloud_vod20170321 import models as vod
from alibabacloud_vod20170321.client import Client
from darabonba.runtime import RuntimeOptions
from Tea.exceptions import TeaException

from receiver.sandbox.mns_emulator import MnsEmulator
from receiver.sandbox.vod_emulator import (
    DEFAULT_APP_ID,
    THROTTLING_MESSAGE,
    VodEmulator,
    serve_forever_cli,
    trigger_upload,
)

pytestmark = pytest.mark.integration

AUTH_KEY = "Abc123XyzAuthKey"


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[VodEmulator]:
    emulator = VodEmulator(retry_spacing=0.05).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def make_client(emulator: VodEmulator, **overrides: Any) -> Client:
    kwargs: dict[str, Any] = {**emulator.sdk_config_kwargs(), "read_timeout": 3000}
    kwargs.update(overrides)
    return Client(open_api_models.Config(**kwargs))


@pytest.fixture
def client(emu: VodEmulator) -> Client:
    return make_client(emu)


class Receiver:
    """A tiny callback endpoint: records every POST, answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.default_status = 200
        self.requests: list[tuple[float, str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), self.path, headers, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else None
                self.send_response(status or receiver.default_status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        # A query string on purpose: VOD signs the configured URL string verbatim.
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vod/callback?env=test"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, _, _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.close()


def sdk_error(excinfo: pytest.ExceptionInfo[Any]) -> tuple[int, str]:
    return excinfo.value.status_code, excinfo.value.code


# --------------------------------------------------------------------------------------------
# every action parses into a non-empty model
# --------------------------------------------------------------------------------------------


def test_get_play_info_model_shape_and_filters(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video(title="clip", definitions=("LD", "SD", "HD"), formats=("mp4", "m3u8"))
    resp = client.get_play_info(vod.GetPlayInfoRequest(video_id=vid))
    assert resp.status_code == 200 and resp.body is not None
    assert resp.body.request_id
    assert resp.body.video_base.video_id == vid
    assert resp.body.video_base.title == "clip"
    assert isinstance(resp.body.video_base.duration, str)
    infos = resp.body.play_info_list.play_info
    assert len(infos) == 6
    first = infos[0]
    assert first.play_url.startswith("http://") and first.job_id
    assert isinstance(first.bitrate, str) and isinstance(first.fps, str)
    assert isinstance(first.size, int) and isinstance(first.width, int)
    assert isinstance(first.duration, str) and first.encrypt == 0

    only = client.get_play_info(
        vod.GetPlayInfoRequest(video_id=vid, formats="m3u8", definition="HD", output_type="oss")
    )
    assert [(p.definition, p.format) for p in only.body.play_info_list.play_info] == [
        ("HD", "m3u8")
    ]
    assert "Expires=" in only.body.play_info_list.play_info[0].play_url

    with pytest.raises(ClientException) as excinfo:
        client.get_play_info(vod.GetPlayInfoRequest(video_id=vid, definition="4K"))
    assert sdk_error(excinfo) == (404, "InvalidVideo.NoneStream")


def test_not_found_and_illegal_status_mapping(emu: VodEmulator, client: Client) -> None:
    with pytest.raises(ClientException) as excinfo:
        client.get_play_info(vod.GetPlayInfoRequest(video_id="0" * 32))
    assert sdk_error(excinfo) == (404, "InvalidVideo.NotFound")
    assert excinfo.value.request_id and excinfo.value.data["Message"] == "The video does not exist."
    assert excinfo.value.data["HostId"] == "vod.cn-shanghai.aliyuncs.com"

    blocked = emu.add_video(status="Blocked")
    with pytest.raises(ClientException) as excinfo:
        client.get_play_info(vod.GetPlayInfoRequest(video_id=blocked))
    assert sdk_error(excinfo) == (403, "Forbidden.IllegalStatus")
    assert "Current Status is Blocked" in excinfo.value.data["Message"]

    uploading = emu.add_video(status="Uploading")
    with pytest.raises(ClientException) as excinfo:
        client.submit_transcode_jobs(
            vod.SubmitTranscodeJobsRequest(video_id=uploading, template_group_id="tg")
        )
    assert sdk_error(excinfo) == (400, "Forbidden.IllegalStatus")
    with pytest.raises(ClientException) as excinfo:
        client.list_snapshots(vod.ListSnapshotsRequest(video_id=uploading))
    assert sdk_error(excinfo) == (400, "Forbidden.IllegalStatus")
    with pytest.raises(ClientException) as excinfo:
        client.get_video_info(vod.GetVideoInfoRequest())
    assert sdk_error(excinfo) == (400, "MissingParameter")


def test_video_info_infos_update(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video(title="first", cate_id=1000, tags="a,b", description="d")
    info = client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body
    assert info is not None and info.video is not None
    assert info.video.video_id == vid and info.video.cate_id == 1000
    assert isinstance(info.video.duration, float) and isinstance(info.video.size, int)
    assert info.video.status == "Normal" and info.video.app_id == DEFAULT_APP_ID
    assert len(info.video.snapshots.snapshot) == 3
    assert info.video.cover_url == info.video.snapshots.snapshot[1]

    title = "新 标题 with spaces & * ~ + / ="
    cover = "http://img.example.com/c.jpg?x=1&y=a+b~* z"
    upd = client.update_video_info(
        vod.UpdateVideoInfoRequest(video_id=vid, title=title, cover_url=cover, cate_id=7, tags="x")
    )
    assert upd.body is not None and upd.body.request_id
    stored = emu.video(vid)
    assert (stored.title, stored.cover_url, stored.cate_id, stored.tags) == (title, cover, 7, "x")
    assert stored.user_set_cover

    other = emu.add_video()
    infos = client.get_video_infos(
        vod.GetVideoInfosRequest(video_ids=f"{vid},{other},{'f' * 32}")
    ).body
    assert infos is not None
    assert [v.video_id for v in infos.video_list] == [vid, other]
    assert infos.non_exist_video_ids == ["f" * 32]
    assert isinstance(infos.video_list[0].snapshots, list)
    with pytest.raises(ClientException) as excinfo:
        client.get_video_infos(vod.GetVideoInfosRequest(video_ids="nope"))
    assert sdk_error(excinfo) == (404, "InvalidVideo.NotFound")
    with pytest.raises(ClientException) as excinfo:
        client.update_video_info(vod.UpdateVideoInfoRequest(video_id=vid, title="x" * 129))
    assert sdk_error(excinfo) == (400, "LengthExceededMax")


def test_mezzanine_and_snapshots(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video(snapshot_count=25)
    mezz = client.get_mezzanine_info(
        vod.GetMezzanineInfoRequest(video_id=vid, addition_type="video,audio")
    ).body
    assert mezz is not None and mezz.mezzanine is not None
    assert mezz.mezzanine.file_url and mezz.mezzanine.status == "Normal"
    assert isinstance(mezz.mezzanine.duration, str) and isinstance(mezz.mezzanine.width, int)
    assert mezz.mezzanine.video_stream_list[0].codec_name == "h264"
    assert mezz.mezzanine.audio_stream_list[0].sample_rate == "44100"

    snaps = client.list_snapshots(vod.ListSnapshotsRequest(video_id=vid, page_size=10, page_no=3))
    media = snaps.body.media_snapshot
    assert media.total == 25 and "{SnapshotCount}" in media.regular and media.job_id
    assert [s.index for s in media.snapshots.snapshot] == [21, 22, 23, 24, 25]
    assert "-00025.jpg" in media.snapshots.snapshot[-1].url

    emu.update_video(vid, has_mezzanine=False)
    with pytest.raises(ClientException) as excinfo:
        client.get_mezzanine_info(vod.GetMezzanineInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (404, "InvalidFile.NotFound")


def test_submit_jobs_and_ai_audit(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    wf = client.submit_workflow_job(vod.SubmitWorkflowJobRequest(workflow_id="wf", media_id=vid))
    assert wf.body is not None and wf.body.task_id and wf.body.request_id

    tj = client.submit_transcode_jobs(
        vod.SubmitTranscodeJobsRequest(video_id=vid, template_group_id="tg-1")
    ).body
    assert tj is not None and tj.transcode_task_id
    assert len(tj.transcode_jobs.transcode_job) == 3 and tj.transcode_jobs.transcode_job[0].job_id

    sj = client.submit_snapshot_job(vod.SubmitSnapshotJobRequest(video_id=vid, count=4)).body
    assert sj is not None and sj.snapshot_job.job_id

    ai = client.submit_aijob(
        vod.SubmitAIJobRequest(media_id=vid, types="AIVideoTag,AIMediaDNA")
    ).body
    assert ai is not None and ai.request_id
    assert [(j.media_id, j.type) for j in ai.aijob_list.aijob] == [
        (vid, "AIVideoTag"),
        (vid, "AIMediaDNA"),
    ]

    emu.next_audit_suggestion = "block"
    audit = client.submit_aimedia_audit_job(vod.SubmitAIMediaAuditJobRequest(media_id=vid)).body
    assert audit is not None and audit.job_id and audit.media_id == vid
    # 1 workflow + 3 streams + 1 transcode + 1 snapshot + 2 AI + 1 audit event
    events = emu.wait_emitted(9)
    assert [e.event_type for e in events] == [
        "WorkflowTaskComplete",
        "StreamTranscodeComplete",
        "StreamTranscodeComplete",
        "StreamTranscodeComplete",
        "TranscodeComplete",
        "SnapshotComplete",
        "AIVideoTagComplete",
        "AIMediaDNAComplete",
        "AIMediaAuditComplete",
    ]
    assert {e.outcome for e in events} == {"no_callback"}
    assert events[5].payload["SubType"] == "SpecifiedTime"
    assert json.loads(events[8].payload["Data"])["Suggestion"] == "block"

    job = client.get_aimedia_audit_job(vod.GetAIMediaAuditJobRequest(job_id=audit.job_id)).body
    assert job is not None and job.media_audit_job.status == "success"
    assert job.media_audit_job.data.suggestion == "block"
    assert job.media_audit_job.data.video_result.porn_result.suggestion == "block"
    with pytest.raises(ClientException) as excinfo:
        client.get_aimedia_audit_job(vod.GetAIMediaAuditJobRequest(job_id="missing"))
    assert sdk_error(excinfo) == (404, "NoSuchResource")
    snaps = client.list_snapshots(
        vod.ListSnapshotsRequest(video_id=vid, snapshot_type="NormalSnapshot")
    ).body
    assert snaps.media_snapshot.total == 4


def test_create_audit_delete_and_upload_video(emu: VodEmulator, client: Client) -> None:
    a, b = emu.add_video(), emu.add_video()
    content = [
        {"VideoId": a, "Status": "Blocked", "Reason": "not allowed"},
        {"VideoId": b, "Status": "Normal"},
    ]
    resp = client.create_audit(vod.CreateAuditRequest(audit_content=json.dumps(content)))
    assert resp.body is not None and resp.body.request_id
    assert emu.video(a).status == "Blocked" and emu.video(a).audit_status == "Blocked"
    assert emu.video(b).audit_status == "Normal"
    with pytest.raises(ClientException) as excinfo:
        client.get_play_info(vod.GetPlayInfoRequest(video_id=a))
    assert sdk_error(excinfo) == (403, "Forbidden.IllegalStatus")
    events = emu.wait_emitted(2)
    assert [(e.event_type, e.payload["AuditStatus"]) for e in events] == [
        ("CreateAuditComplete", "Blocked"),
        ("CreateAuditComplete", "Normal"),
    ]
    with pytest.raises(ClientException) as excinfo:
        client.create_audit(vod.CreateAuditRequest(audit_content="not json"))
    assert sdk_error(excinfo) == (400, "InvalidParameter")

    deleted = client.delete_video(vod.DeleteVideoRequest(video_ids=f"{a},{'e' * 32}")).body
    assert deleted is not None and deleted.non_exist_video_ids == ["e" * 32]
    assert a not in emu.video_ids()
    with pytest.raises(ClientException) as excinfo:
        client.delete_video(vod.DeleteVideoRequest(video_ids="e" * 32))
    assert sdk_error(excinfo) == (404, "InvalidVideo.NotFound")

    up = client.create_upload_video(
        vod.CreateUploadVideoRequest(
            title="lecture",
            file_name="D:\\videos\\lecture.mp4",
            user_data=json.dumps({"Extend": {"tenant": "t-42"}}),
        )
    ).body
    assert up is not None and up.video_id
    address = json.loads(base64.b64decode(up.upload_address))
    auth = json.loads(base64.b64decode(up.upload_auth))
    assert address["FileName"].endswith(".mp4") and address["Bucket"]
    assert auth["AccessKeyId"].startswith("STS.") and auth["SecurityToken"]
    assert emu.video(up.video_id).status == "Uploading"
    with pytest.raises(ClientException) as excinfo:
        client.create_upload_video(vod.CreateUploadVideoRequest(title="t", file_name="x.exe"))
    assert sdk_error(excinfo) == (400, "InvalidFileName.Extension")


def test_message_callback_set_get_delete(emu: VodEmulator, client: Client) -> None:
    empty = client.get_message_callback(vod.GetMessageCallbackRequest()).body
    assert empty is not None and empty.request_id and empty.message_callback is None

    set_resp = client.set_message_callback(
        vod.SetMessageCallbackRequest(
            callback_type="HTTP",
            callback_url="http://127.0.0.1:9/cb",
            event_type_list="FileUploadComplete,AIComplete",
            auth_switch="on",
            auth_key=AUTH_KEY,
        )
    )
    client.set_message_callback(
        vod.SetMessageCallbackRequest(
            app_id="app-2",
            callback_type="MNS",
            mns_endpoint="http://127.0.0.1:1/",
            mns_queue_name="vodq",
        )
    )
    got = client.get_message_callback(vod.GetMessageCallbackRequest()).body.message_callback
    assert (got.callback_type, got.callback_url, got.auth_switch, got.auth_key) == (
        "HTTP",
        "http://127.0.0.1:9/cb",
        "on",
        AUTH_KEY,
    )
    assert got.event_type_list == "FileUploadComplete,AIComplete"
    assert got.app_id == DEFAULT_APP_ID
    mns = client.get_message_callback(vod.GetMessageCallbackRequest(app_id="app-2")).body
    assert mns.message_callback.mns_queue_name == "vodq"

    assert set_resp.body is not None and set_resp.body.request_id
    deleted = client.delete_message_callback(
        vod.DeleteMessageCallbackRequest(app_id=DEFAULT_APP_ID)
    )
    assert deleted.body is not None and deleted.body.request_id
    assert emu.callback_config() is None
    with pytest.raises(ClientException) as excinfo:
        client.set_message_callback(vod.SetMessageCallbackRequest(callback_type="HTTP"))
    assert sdk_error(excinfo) == (400, "MissingParameter")


def test_unknown_action(emu: VodEmulator, client: Client) -> None:
    params = Params(
        action="GetImageInfoX",
        version="2017-03-21",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    with pytest.raises(ClientException) as excinfo:
        client.call_api(params, OpenApiRequest(query={}), RuntimeOptions())
    assert sdk_error(excinfo) == (404, "InvalidAction.NotFound")


async def test_async_methods(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    started = time.monotonic()
    results = await asyncio.gather(
        *(client.get_play_info_async(vod.GetPlayInfoRequest(video_id=vid)) for _ in range(20))
    )
    assert time.monotonic() - started < 2.0
    assert all(r.body.play_info_list.play_info[0].play_url for r in results)
    info = await client.get_video_info_async(vod.GetVideoInfoRequest(video_id=vid))
    assert info.body.video.video_id == vid
    upd = await client.update_video_info_async(
        vod.UpdateVideoInfoRequest(video_id=vid, title="async title")
    )
    assert upd.body.request_id and emu.video(vid).title == "async title"
    job = await client.submit_aimedia_audit_job_async(
        vod.SubmitAIMediaAuditJobRequest(media_id=vid)
    )
    assert job.body.job_id
    with pytest.raises(ClientException) as excinfo:
        await client.get_video_info_async(vod.GetVideoInfoRequest(video_id="0" * 32))
    assert sdk_error(excinfo) == (404, "InvalidVideo.NotFound")


# --------------------------------------------------------------------------------------------
# authentication
# --------------------------------------------------------------------------------------------


def test_signature_rejections(emu: VodEmulator) -> None:
    vid = emu.add_video()
    bad = make_client(emu, access_key_secret="wrong-secret")
    with pytest.raises(ClientException) as excinfo:
        bad.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in excinfo.value.data["Message"]

    unknown = make_client(emu, access_key_id="nobody")
    with pytest.raises(ClientException) as excinfo:
        unknown.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (404, "InvalidAccessKeyId.NotFound")

    v2 = make_client(emu, signature_algorithm="v2")
    resp = v2.update_video_info(vod.UpdateVideoInfoRequest(video_id=vid, title="a b*~/+"))
    assert resp.body.request_id and emu.video(vid).title == "a b*~/+"
    v2_bad = make_client(emu, signature_algorithm="v2", access_key_secret="wrong")
    with pytest.raises(ClientException) as excinfo:
        v2_bad.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (400, "SignatureDoesNotMatch")

    log = emu.request_log
    assert [(r.signature, r.code) for r in log] == [
        (None, "SignatureDoesNotMatch"),
        (None, "InvalidAccessKeyId.NotFound"),
        ("v2", None),
        (None, "SignatureDoesNotMatch"),
    ]


def test_stale_date_and_nonce_replay(
    emu: VodEmulator, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = emu.add_video()
    monkeypatch.setattr(
        open_api_utils.Utils, "get_timestamp", staticmethod(lambda: "2020-01-01T00:00:00Z")
    )
    with pytest.raises(ClientException) as excinfo:
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (400, "InvalidTimeStamp.Expired")
    monkeypatch.undo()

    monkeypatch.setattr(open_api_utils.Utils, "get_nonce", staticmethod(lambda: "f" * 32))
    client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    with pytest.raises(ClientException) as excinfo:
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (400, "SignatureNonceUsed")


def _raw_v3(
    emu: VodEmulator, query: dict[str, str], signed: list[str], secret: str
) -> tuple[int, dict[str, Any]]:
    """Hand-signed V3 request (the reference verifier's algorithm) with chosen signed headers."""

    def pct(value: str) -> str:
        return quote(value, safe="-_.~")

    headers = {
        "host": emu.host_port,
        "x-acs-action": "GetVideoInfo",
        "x-acs-version": "2017-03-21",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": os.urandom(16).hex(),
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    canon_q = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(query.items()))
    canon_h = "".join(f"{h}:{headers[h]}\n" for h in signed)
    creq = "\n".join(
        ["POST", "/", canon_q, canon_h, ";".join(signed), hashlib.sha256(b"").hexdigest()]
    )
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(creq.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={emu.access_key_id},"
        f"SignedHeaders={';'.join(signed)},Signature={sig}"
    )
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    conn.request("POST", "/?" + urlencode(query), headers=headers)
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


def test_hand_signed_v3_and_required_signed_headers(emu: VodEmulator) -> None:
    vid = emu.add_video(title="a b")
    full = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date"]
    full += ["x-acs-signature-nonce", "x-acs-version"]
    status, body = _raw_v3(emu, {"VideoId": vid}, full, emu.access_key_secret)
    assert status == 200 and body["Video"]["Title"] == "a b"
    status, body = _raw_v3(
        emu, {"VideoId": vid}, [h for h in full if h != "x-acs-date"], emu.access_key_secret
    )
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    assert set(body) == {"RequestId", "HostId", "Code", "Message"}


def test_sts_token() -> None:
    with VodEmulator(security_token="sts-token-1") as emu:
        vid = emu.add_video()
        good = make_client(emu)  # sdk_config_kwargs carries the token
        assert good.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video is not None
        v2 = make_client(emu, signature_algorithm="v2")
        assert v2.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video is not None
        wrong = make_client(emu, security_token="sts-token-2")
        with pytest.raises(ClientException) as excinfo:
            wrong.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
        assert sdk_error(excinfo) == (400, "InvalidSecurityToken.Malformed")
        kwargs = emu.sdk_config_kwargs()
        del kwargs["security_token"]
        missing = Client(open_api_models.Config(**kwargs))
        with pytest.raises(ClientException) as excinfo:
            missing.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
        assert sdk_error(excinfo) == (400, "MissingSecurityToken")


# --------------------------------------------------------------------------------------------
# fault injection, latency, request log
# --------------------------------------------------------------------------------------------


def test_throttle_fault(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    fault = emu.faults.add(action="GetPlayInfo", kind="throttle", times=2)
    for _ in range(2):
        with pytest.raises(ServerException) as excinfo:
            client.get_play_info(vod.GetPlayInfoRequest(video_id=vid))
        assert sdk_error(excinfo) == (503, "Throttling")
        assert excinfo.value.data["Message"] == THROTTLING_MESSAGE
    # other actions are unaffected, and the fault is used up after 2 hits
    assert client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video is not None
    assert client.get_play_info(vod.GetPlayInfoRequest(video_id=vid)).body is not None
    assert fault.hits == 2 and emu.faults.list() == []

    emu.faults.add(kind="throttle", times=1, retry_after_ms=250)
    with pytest.raises(ThrottlingException) as throttled:
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert throttled.value.code == "Throttling" and throttled.value.retry_after == 250

    emu.faults.add(kind="throttle", probability=1.0)
    with pytest.raises(ServerException):
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    emu.faults.clear()
    emu.faults.add(kind="throttle", probability=0.0)
    assert client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body is not None

    logged = [(r.action, r.status, r.code, r.fault) for r in emu.request_log]
    assert logged[:3] == [
        ("GetPlayInfo", 503, "Throttling", "throttle"),
        ("GetPlayInfo", 503, "Throttling", "throttle"),
        ("GetVideoInfo", 200, None, None),
    ]


def test_documented_qps_enforcement(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    emu.enforce_qps = True
    emu.qps_limits["GetVideoInfo"] = 2
    for _ in range(2):
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    with pytest.raises(ServerException) as excinfo:
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (503, "Throttling")
    assert client.get_play_info(vod.GetPlayInfoRequest(video_id=vid)).body is not None


def test_server_error_fault(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetVideoInfo", kind="server_error", times=1)
    with pytest.raises(ServerException) as excinfo:
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (500, "InternalError")
    emu.faults.add(action="GetVideoInfo", kind="server_error", times=1, status=503)
    with pytest.raises(ServerException) as excinfo:
        client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    assert sdk_error(excinfo) == (503, "ServiceUnAvailable")
    assert client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video is not None


def test_latency_and_timeout_faults(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    emu.faults.add(action="GetVideoInfo", kind="latency", times=1, delay=0.2)
    started = time.monotonic()
    assert client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video is not None
    assert time.monotonic() - started >= 0.2

    short = RuntimeOptions(read_timeout=200)
    for drop in (False, True):
        emu.faults.add(action="GetVideoInfo", kind="timeout", times=1, delay=0.8, drop=drop)
        started = time.monotonic()
        with pytest.raises(TeaException) as excinfo:
            client.get_video_info_with_options(vod.GetVideoInfoRequest(video_id=vid), short)
        assert type(excinfo.value).__name__ == "UnretryableException"
        assert time.monotonic() - started < 0.75  # the client gave up; the server still holds
    # the held requests finish server-side; the next call is served normally
    assert client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video is not None
    deadline = time.monotonic() + 3
    while len(emu.calls("GetVideoInfo")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    held = [r for r in emu.calls("GetVideoInfo") if r.fault == "timeout"]
    assert sorted(r.status or 0 for r in held) == [0, 200]
    assert all(r.elapsed >= 0.8 for r in held)


async def test_global_latency_does_not_serialize(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    emu.latency = 0.1
    started = time.monotonic()
    results = await asyncio.gather(
        *(client.get_video_info_async(vod.GetVideoInfoRequest(video_id=vid)) for _ in range(10))
    )
    elapsed = time.monotonic() - started
    assert all(r.body.video is not None for r in results)
    assert 0.1 <= elapsed < 0.9  # 10 calls in parallel, not 10 x 0.1 s in a row
    assert all(r.elapsed >= 0.1 for r in emu.calls("GetVideoInfo"))


def test_request_log_records(emu: VodEmulator, client: Client) -> None:
    vid = emu.add_video()
    client.get_play_info(vod.GetPlayInfoRequest(video_id=vid, formats="mp4"))
    with pytest.raises(ClientException):
        client.get_play_info(vod.GetPlayInfoRequest(video_id="x"))
    client.get_video_info(vod.GetVideoInfoRequest(video_id=vid))
    log = emu.request_log
    assert [(r.action, r.status, r.code, r.signature) for r in log] == [
        ("GetPlayInfo", 200, None, "v3"),
        ("GetPlayInfo", 404, "InvalidVideo.NotFound", "v3"),
        ("GetVideoInfo", 200, None, "v3"),
    ]
    assert log[0].params == {"VideoId": vid, "Formats": "mp4"}
    assert log[0].mono <= log[1].mono <= log[2].mono
    assert abs(log[0].wall - time.time()) < 5 and log[0].request_id
    assert len(emu.calls("GetPlayInfo")) == 2 and len(emu.calls()) == 3
    assert all(r.elapsed < 0.25 for r in log)  # typically ~0.2 ms


# --------------------------------------------------------------------------------------------
# event emission
# --------------------------------------------------------------------------------------------


def test_upload_emits_signed_events_in_order(
    emu: VodEmulator, client: Client, receiver: Receiver
) -> None:
    emu.set_callback(receiver.url, AUTH_KEY)
    vid = emu.upload(
        title="lecture 1",
        definitions=("LD", "SD"),
        formats=("mp4", "m3u8"),
        extend={"tenant": "t-42"},
    )
    events = emu.wait_emitted(7)
    assert [e.outcome for e in events] == ["delivered"] * 7
    got = receiver.events()
    assert [e["EventType"] for e in got] == [
        "FileUploadComplete",
        "StreamTranscodeComplete",
        "StreamTranscodeComplete",
        "StreamTranscodeComplete",
        "StreamTranscodeComplete",
        "TranscodeComplete",
        "SnapshotComplete",
    ]
    assert got == [e.payload for e in events]
    for _, path, headers, _ in receiver.requests:
        assert path == "/vod/callback?env=test"
        assert headers["content-type"] == "application/json"
        ts = headers["x-vod-timestamp"]
        assert ts.isdigit() and len(ts) == 10 and abs(int(ts) - time.time()) < 10
        want = hashlib.md5(f"{receiver.url}|{ts}|{AUTH_KEY}".encode()).hexdigest()
        assert headers["x-vod-signature"] == want
    for event in got:
        assert event["VideoId"] == vid and event["Status"] == "success"
        assert event["Extend"] == '{"tenant":"t-42"}'
        datetime.strptime(event["EventTime"], "%Y-%m-%dT%H:%M:%SZ")

    upload, streams, done, snap = got[0], got[1:5], got[5], got[6]
    assert upload["Size"] > 0 and upload["FileUrl"].startswith("http://")
    assert [(s["Definition"], s["Format"]) for s in streams] == [
        ("LD", "mp4"),
        ("LD", "m3u8"),
        ("SD", "mp4"),
        ("SD", "m3u8"),
    ]
    for s in streams:
        assert isinstance(s["Bitrate"], str) and isinstance(s["Fps"], str)
        assert isinstance(s["Width"], int) and isinstance(s["Height"], int)
        assert isinstance(s["Size"], int) and isinstance(s["Duration"], float)
        assert s["JobId"] and s["FileUrl"] and s["Status"] == "success"
    assert [s["JobId"] for s in done["StreamInfos"]] == [s["JobId"] for s in streams]
    info = snap["SnapshotInfos"][0]
    assert "{SnapshotCount}" in info["SnapshotRegular"] and info["SnapshotCount"] == 3
    assert snap["CoverUrl"].endswith("-00002.jpg")

    play = client.get_play_info(vod.GetPlayInfoRequest(video_id=vid)).body
    assert {p.job_id for p in play.play_info_list.play_info} == {s["JobId"] for s in streams}
    video = client.get_video_info(vod.GetVideoInfoRequest(video_id=vid)).body.video
    assert video.status == "Normal" and video.cover_url == snap["CoverUrl"]


def test_http_retry_then_drop(emu: VodEmulator, receiver: Receiver) -> None:
    emu.set_callback(receiver.url, AUTH_KEY)
    receiver.default_status = 500
    emu.emit_event({"EventType": "FileUploadComplete", "VideoId": "v1", "Status": "success"})
    (event,) = emu.wait_emitted(1)
    assert event.outcome == "dropped" and emu.dropped_events == [event]
    times = [t for t, _, _, _ in receiver.requests]
    assert len(times) == 3
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(times))
    attempts = emu.delivery_log
    assert [(a.attempt, a.ok, a.status) for a in attempts] == [
        (1, False, 500),
        (2, False, 500),
        (3, False, 500),
    ]

    # 204 is not 200: it counts as a failure; the third attempt's 200 delivers
    receiver.statuses = [204, 500]
    receiver.default_status = 200
    emu.emit_event({"EventType": "FileUploadComplete", "VideoId": "v2", "Status": "success"})
    assert emu.wait_emitted(2)[1].outcome == "delivered"
    assert len(receiver.requests) == 6 and len(emu.dropped_events) == 1


def test_event_filter_via_sdk_and_audit_suggestion(
    emu: VodEmulator, client: Client, receiver: Receiver
) -> None:
    client.set_message_callback(
        vod.SetMessageCallbackRequest(
            callback_type="HTTP",
            callback_url=receiver.url,
            event_type_list="FileUploadComplete,AIComplete",
            auth_switch="off",
        )
    )
    vid = emu.upload(definitions=("SD",))
    emu.next_audit_suggestion = "block"
    client.submit_aimedia_audit_job(vod.SubmitAIMediaAuditJobRequest(media_id=vid))
    events = emu.wait_emitted(5)
    assert [(e.event_type, e.outcome) for e in events] == [
        ("FileUploadComplete", "delivered"),
        ("StreamTranscodeComplete", "filtered"),
        ("TranscodeComplete", "filtered"),
        ("SnapshotComplete", "filtered"),
        ("AIMediaAuditComplete", "delivered"),
    ]
    got = receiver.events()
    assert [e["EventType"] for e in got] == ["FileUploadComplete", "AIMediaAuditComplete"]
    assert json.loads(got[1]["Data"])["Suggestion"] == "block"
    assert "x-vod-signature" not in receiver.requests[0][2]  # AuthSwitch off: unsigned


def test_control_endpoint_and_cli(receiver: Receiver) -> None:
    out = io.StringIO()
    stop = threading.Event()
    ready: list[VodEmulator] = []
    thread = threading.Thread(
        target=serve_forever_cli,
        kwargs={
            "port": 0,
            "callback_url": receiver.url,
            "auth_key": AUTH_KEY,
            "retry_spacing": 0.05,
            "out": out,
            "ready": ready.append,
            "stop_event": stop,
        },
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 5
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    emu = ready[0]
    try:
        text = out.getvalue()
        assert f"export VODHOOK_VOD_ENDPOINT={emu.endpoint}" in text
        assert "export ALIBABA_CLOUD_ACCESS_KEY_ID=sandbox-ak" in text
        assert AUTH_KEY not in text  # the key is never echoed

        with urllib.request.urlopen(emu.endpoint + "/_sandbox/health", timeout=5) as resp:
            assert json.loads(resp.read())["ok"] is True
        vid = trigger_upload(emu.endpoint, "from another process", definitions=["HD"], wait=True)
        assert [e["EventType"] for e in receiver.events()] == [
            "FileUploadComplete",
            "StreamTranscodeComplete",
            "TranscodeComplete",
            "SnapshotComplete",
        ]
        assert receiver.events()[0]["VideoId"] == vid
        # control requests are not part of the OpenAPI request log
        assert emu.request_log == []
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_mns_delivery_base64_raw_and_drop() -> None:
    with (
        MnsEmulator(access_key_id="mns-ak", access_key_secret="mns-secret") as mns,
        VodEmulator(
            retry_spacing=0.05, mns_access_key_id="mns-ak", mns_access_key_secret="mns-secret"
        ) as emu,
    ):
        mns.create_queue("vodq")
        client = make_client(emu)
        client.set_message_callback(
            vod.SetMessageCallbackRequest(
                callback_type="MNS",
                mns_endpoint=mns.endpoint + "/",
                mns_queue_name="vodq",
                event_type_list="ALL",
            )
        )
        vid = emu.upload(definitions=("SD",))
        events = emu.wait_emitted(4)
        assert [e.outcome for e in events] == ["delivered"] * 4
        bodies = [json.loads(base64.b64decode(m.body)) for m in mns.all_messages("vodq")]
        assert bodies == [e.payload for e in events]
        assert bodies[0]["EventType"] == "FileUploadComplete" and bodies[0]["VideoId"] == vid

        emu.mns_base64 = False
        emu.emit_event({"EventType": "FileUploadComplete", "VideoId": vid, "Status": "success"})
        raw = emu.wait_emitted(5)[4]
        assert json.loads(mns.all_messages("vodq")[-1].body) == raw.payload

        emu.set_callback(
            callback_type="MNS", mns_endpoint=mns.endpoint, mns_queue_name="no-such-queue"
        )
        emu.emit_event({"EventType": "FileUploadComplete", "VideoId": vid, "Status": "success"})
        dropped = emu.wait_emitted(6)[5]
        assert dropped.outcome == "dropped" and emu.dropped_events == [dropped]
        assert [a.attempt for a in emu.delivery_log if not a.ok] == [1, 2, 3]
