"""Realistic sample payloads for every event type (tests, the CLI's ``send`` tooling, docs).

Bodies mirror the examples of vod-events.md §4: PascalCase keys, JSON-in-a-string fields
sent as strings, each type's own status spelling, and the number quoting VOD really
uses, so a receiver exercised with them meets the same quirks as in production.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from receiver.events.fields import MAX_JSON_DEPTH, json_depth

__all__ = ["decode_override", "sample_event"]

Body = dict[str, Any]


def _hex(n: int = 32) -> str:
    return secrets.token_hex(n // 2)


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _js(value: Any) -> str:
    """VOD sends these fields as JSON text, not objects."""
    return orjson.dumps(value).decode()


class _Ctx:
    """Per-call ids and times so related fields in one body agree with each other."""

    def __init__(self, media_id: str | None, now: datetime) -> None:
        self.media_id = media_id or _hex()
        self.now = now
        self.time = _ts(now)
        self.bucket = f"outin-{_hex(32)}.oss-cn-shanghai.aliyuncs.com"
        self.cdn = "http://vod.example.com"

    def ago(self, seconds: int) -> str:
        return _ts(self.now - timedelta(seconds=seconds))


def _stream(c: _Ctx, definition: str, fmt: str, width: int, height: int, bitrate: str) -> Body:
    return {
        "Status": "success",
        "IsAudio": False,
        "JobId": _hex(),
        "Definition": definition,
        "Format": fmt,
        "Fps": "25",
        "Bitrate": bitrate,
        "Duration": 154.0,
        "Size": int(bitrate) * 154 * 125,
        "Width": width,
        "Height": height,
        "Encrypt": False,
        "StartTime": c.ago(27),
        "FinishTime": c.time,
        "FileUrl": f"{c.cdn}/{c.media_id}/{_hex(8)}-{definition.lower()}.{fmt}",
    }


def _file_upload(c: _Ctx) -> Body:
    return {
        "VideoId": c.media_id,
        "Status": "success",
        "Size": 1439213,
        "FileUrl": f"http://{c.bucket}/sv/{_hex(8)}-{_hex(4)}/{_hex(8)}-{_hex(4)}.mp4",
        "Extend": _js({"tenant": "t-42", "localId": "up-9001"}),
    }


def _image_upload(c: _Ctx) -> Body:
    return {
        "ImageId": c.media_id,
        "Status": "success",
        "Size": 105520,
        "AppId": "app-1000000",
        "FileURL": f"http://{c.bucket}/image/default/{_hex(16).upper()}.jpg",
    }


def _attached_upload(c: _Ctx) -> Body:
    return {
        "AttachedMediaId": c.media_id,
        "Status": "success",
        "Size": 14333,
        "FileURL": f"{c.cdn}/attached/{c.media_id[:8]}/watermark.png",
    }


def _upload_by_url(c: _Ctx) -> Body:
    return {
        "VideoId": c.media_id,
        "Status": "success",
        "JobId": _hex(),
        "SourceURL": "https://src.example.com/raw/lecture-01.mp4",
        "Size": 52428800,
    }


def _stream_transcode(c: _Ctx) -> Body:
    return {"VideoId": c.media_id, **_stream(c, "SD", "mp4", 960, 540, "820")}


def _transcode(c: _Ctx) -> Body:
    return {
        "VideoId": c.media_id,
        "Status": "success",
        "StreamInfos": [
            _stream(c, "SD", "m3u8", 1280, 720, "1110"),
            _stream(c, "FD", "m3u8", 640, 360, "421"),
        ],
    }


def _snapshot(c: _Ctx) -> Body:
    base = f"{c.cdn}/{c.media_id}/snapshots"
    prefix = _hex(8).upper()

    def info(kind: str, folder: str, count: int) -> Body:
        path = f"{c.media_id}/snapshots/{folder}/{prefix}-{{SnapshotCount}}.jpg"
        return {
            "Status": "success",
            "SnapshotType": kind,
            "SnapshotCount": count,
            "SnapshotFormat": path,
            "SnapshotRegular": f"{c.cdn}/{path}",
            "JobId": _hex(),
        }

    return {
        "VideoId": c.media_id,
        "Status": "success",
        "CoverUrl": f"{base}/normal/{prefix}-00002.jpg",
        "SnapshotInfos": [
            info("NormalSnapshot", "normal", 3),
            info("SpriteSnapshot", "sprite", 1),
        ],
    }


def _dynamic_image(c: _Ctx) -> Body:
    job = _hex()
    return {
        "VideoId": c.media_id,
        "Status": "success",
        "JobId": job,
        "DynamicImageJobInfo": _js(
            {
                "FileSize": "1834831",
                "FileURL": f"{c.cdn}/{c.media_id}/image/dynamic/{_hex(8)}.gif",
                "Fps": "25",
                "Height": "200",
                "JobId": job,
                "Status": "success",
                "Width": "200",
            }
        ),
    }


def _video_analysis(c: _Ctx) -> Body:
    return {
        "VideoId": c.media_id,
        "Status": "success",
        "Duration": "154.2",
        "Width": "1280",
        "Height": "720",
        "Fps": "25",
        "Bitrate": "1210",
        "Size": "23437828",
    }


def _live(c: _Ctx) -> Body:
    return {
        "VideoId": c.media_id,
        "Status": "success",
        "StreamName": "room-7",
        "DomainName": "push.live.example.com",
        "AppName": "classroom",
    }


def _add_live_record(c: _Ctx) -> Body:
    return {**_live(c), "RecordStartTime": c.ago(6321), "RecordEndTime": c.time}


def _create_audit(c: _Ctx) -> Body:
    return {
        "MediaId": c.media_id,
        "Status": "success",
        "SubType": "video",
        "AuditStatus": "Normal",
        "CreationTime": c.time,
        "Auditor": "ops-reviewer-3",
        "Reason": "",
    }


def _ai(c: _Ctx, data: Any) -> Body:
    return {
        "MediaId": c.media_id,
        "JobId": _hex(),
        "Status": "success",
        "Code": "0",
        "Message": "OK",
        "Data": _js(data),
    }


def _ai_audit(c: _Ctx) -> Body:
    return _ai(
        c,
        {
            "Suggestion": "pass",
            "Label": "normal",
            "AbnormalModules": "",
            "VideoResult": {"Suggestion": "pass", "Label": "normal"},
        },
    )


def _ai_dna(c: _Ctx) -> Body:
    return _ai(c, {"VideoDNA": []})


def _ai_tag(c: _Ctx) -> Body:
    return _ai(
        c,
        {
            "Keyword": [{"Times": ["3260", "4000"], "Tag": "classroom"}],
            "Location": [{"Times": ["8410"], "Tag": "Asia"}],
        },
    )


def _produce(c: _Ctx) -> Body:
    return {"MediaId": c.media_id, "ProjectId": _hex(), "Status": "success"}


def _delete(c: _Ctx) -> Body:
    return {"MediaId": c.media_id, "Status": "success", "MediaType": "video", "DeleteType": "all"}


def _base_change(c: _Ctx) -> Body:
    content = {
        "Title": _js({"OldValue": "draft.mp4", "NewValue": "Lecture 1"}),
        "CateId": _js({"NewValue": 1000020001}),
    }
    return {
        "MediaId": c.media_id,
        "Status": "success",
        "MediaType": "video",
        "OperateMode": "update",
        "MediaContent": _js(content),
    }


def _storage_class(c: _Ctx) -> Body:
    return {
        "MediaId": c.media_id,
        "Status": "Success",
        "Scope": "All",
        "StorageClass": "Archive",
        "TriggerBy": "API",
    }


def _restore(c: _Ctx) -> Body:
    return {
        "MediaId": c.media_id,
        "Status": "Success",
        "RestoreExpiration": _ts(c.now + timedelta(days=7)),
    }


def _refresh(c: _Ctx) -> Body:
    return {
        "MediaId": c.media_id,
        "Status": "success",
        "MediaRefreshJobId": _hex(16),
        "TaskType": "Refresh",
        "SuccessPlayUrls": f"https://cdn.example.com/sv/{_hex(8)}/{_hex(8)}.mp4",
        "TaskIds": str(14604351234 + secrets.randbelow(10**6)),
        "FilterPolicy": _js({"SliceFlag": False, "ResultType": "Single"}),
    }


def _workflow(c: _Ctx) -> Body:
    activity = {
        "VideoTranslation": {
            "Status": "Succeed",
            "StartTime": c.ago(603),
            "EndTime": c.ago(7),
            "ActivityId": "VideoTranslation",
            "ActivityInstanceId": _hex(12),
            "Result": {"Status": "Finished", "JobType": "VideoTranslation"},
        }
    }
    return {
        "VideoId": c.media_id,
        "Status": "Succeed",
        "WorkflowId": _hex(),
        "TaskId": _hex(16),
        "UserId": "1833220977560000",
        "ActivityResults": _js(activity),
        "TaskInput": "{}",
        "CreateTime": c.ago(611),
        "ModifiedTime": c.ago(7),
        "FinishTime": c.ago(7),
    }


def _generic(c: _Ctx) -> Body:
    return {"MediaId": c.media_id, "Status": "success"}


_BUILDERS: Final[dict[str, Callable[[_Ctx], Body]]] = {
    "FileUploadComplete": _file_upload,
    "ImageUploadComplete": _image_upload,
    "AttachedMediaUploadComplete": _attached_upload,
    "UploadByURLComplete": _upload_by_url,
    "StreamTranscodeComplete": _stream_transcode,
    "TranscodeComplete": _transcode,
    "SnapshotComplete": _snapshot,
    "DynamicImageComplete": _dynamic_image,
    "VideoAnalysisComplete": _video_analysis,
    "AddLiveRecordVideoComplete": _add_live_record,
    "LiveRecordVideoComposeStart": _live,
    "CreateAuditComplete": _create_audit,
    "AIMediaAuditComplete": _ai_audit,
    "AIMediaDNAComplete": _ai_dna,
    "AIVideoTagComplete": _ai_tag,
    "AIVideoCensorComplete": _ai_audit,
    "ProduceMediaComplete": _produce,
    "DeleteMediaComplete": _delete,
    "MediaBaseChangeComplete": _base_change,
    "UpdateMediaStorageClassComplete": _storage_class,
    "RestoreMediaComplete": _restore,
    "SubmitMediaRefreshComplete": _refresh,
    "WorkflowTaskComplete": _workflow,
}


def decode_override(value: Any) -> Any:
    """CLI ``--set Field=value`` values: JSON when the text is JSON (12, true, {...}), else text."""
    if not isinstance(value, str):
        return value
    if value.count("{") + value.count("[") > MAX_JSON_DEPTH and json_depth(value) > MAX_JSON_DEPTH:
        return value  # orjson 3.8 would overflow the stack; see fields.MAX_JSON_DEPTH
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def sample_event(
    event_type: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    media_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A realistic body for ``event_type`` (a minimal generic one for unknown types).

    ``now`` (default: current time; naive means UTC) becomes EventTime; ids not given are
    random 32-hex strings; ``overrides`` are applied last, string values JSON-decoded.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    else:
        now = now.astimezone(UTC)
    ctx = _Ctx(media_id, now.replace(microsecond=0))
    body: Body = {"EventType": event_type, "EventTime": ctx.time}
    body.update(_BUILDERS.get(event_type, _generic)(ctx))
    if overrides:
        for key, value in overrides.items():
            body[key] = decode_override(value)
    return body
