"""Event models: every documented payload quirk (vod-events.md §3/§4) and hostile input."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from receiver.events import (
    EVENT_MODELS,
    EVENT_TYPES,
    MAX_JSON_DEPTH,
    EventParseError,
    EventStatus,
    GenericEvent,
    SnapshotInfo,
    StreamInfo,
    VodEvent,
    dedup_key,
    parse_event,
    parse_event_bytes,
)
from receiver.events import models as m

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"

S, F = EventStatus.SUCCESS, EventStatus.FAIL

# file -> (model, media_id, status, EventTime as ISO-8601 Z)
EXPECTED: dict[str, tuple[type[VodEvent], str | None, EventStatus | None, str]] = {
    "FileUploadComplete.doc.json": (
        m.FileUploadComplete,
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T09:49:33Z",
    ),
    "FileUploadComplete.mns.json": (
        m.FileUploadComplete,
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T09:49:33Z",
    ),
    "ImageUploadComplete.ms-colon.json": (
        m.ImageUploadComplete,
        "59bdbf10df76a8d8b6137a5ad12a0001",
        S,
        "2024-04-10T01:37:14.627Z",
    ),
    "ImageUploadComplete.ms-dot.json": (
        m.ImageUploadComplete,
        "59bdbf10df76a8d8b6137a5ad12a0002",
        S,
        "2024-04-10T01:37:14.627Z",
    ),
    "AttachedMediaUploadComplete.doc.json": (
        m.AttachedMediaUploadComplete,
        "62cb3151eba54f82b2da3b55bc5a0001",
        S,
        "2024-05-06T09:50:01Z",
    ),
    "UploadByURLComplete.fail.json": (m.UploadByURLComplete, None, F, "2024-05-06T10:00:00Z"),
    "UploadByURLComplete.doc-bug.json": (m.UploadByURLComplete, None, F, "2024-05-06T10:00:00Z"),
    "UploadByURLComplete.stream.json": (
        m.UploadByURLComplete,
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T10:03:00Z",
    ),
    "StreamTranscodeComplete.real.json": (
        m.StreamTranscodeComplete,
        "1359cfac2e1c44c5bea27f9958999f84",
        S,
        "2018-10-08T09:55:51Z",
    ),
    "TranscodeComplete.real.json": (
        m.TranscodeComplete,
        "c28ec065ed4a4eceb4eff8f18b928533",
        S,
        "2020-07-10T06:49:51Z",
    ),
    "SnapshotComplete.doc.json": (
        m.SnapshotComplete,
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T09:52:10Z",
    ),
    "SnapshotComplete.no-videoid.json": (m.SnapshotComplete, None, None, "2017-03-20T07:49:17Z"),
    "DynamicImageComplete.doc.json": (
        m.DynamicImageComplete,
        "6a45f222e08f4c1d9d2d144503213a01",
        S,
        "2024-05-06T09:55:58Z",
    ),
    "VideoAnalysisComplete.quoted-numbers.json": (
        m.VideoAnalysisComplete,
        "84bd5b0566dd4a95a9986befd0e80a01",
        S,
        "2024-05-06T09:49:48Z",
    ),
    "AddLiveRecordVideoComplete.doc.json": (
        m.AddLiveRecordVideoComplete,
        "43q9fjdhef0a4b1c",
        S,
        "2024-05-06T09:26:17Z",
    ),
    "LiveRecordVideoComposeStart.doc.json": (
        m.LiveRecordVideoComposeStart,
        "9d0e1f2a3b4c5d6e",
        S,
        "2024-05-06T09:29:20Z",
    ),
    "CreateAuditComplete.doc.json": (
        m.CreateAuditComplete,
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T11:00:00Z",
    ),
    "AIMediaAuditComplete.doc.json": (
        m.AIMediaAuditComplete,
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T10:05:00Z",
    ),
    "AIMediaAuditComplete.data-object.json": (
        m.AIMediaAuditComplete,
        "b1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2024-05-06T10:05:30Z",
    ),
    "AIVideoCensorComplete.legacy.json": (
        m.AIMediaAuditComplete,
        "c1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2019-07-01T08:00:00Z",
    ),
    "AIMediaDNAComplete.doc.json": (
        m.AIMediaDNAComplete,
        "3d12340d92c44383",
        S,
        "2024-05-06T10:06:00Z",
    ),
    "AIVideoTagComplete.doc.json": (
        m.AIVideoTagComplete,
        "sj83k40d92c64140",
        S,
        "2024-05-06T10:07:00Z",
    ),
    "ProduceMediaComplete.fail.json": (
        m.ProduceMediaComplete,
        "1234343b689a4e3ba5422dfe1e472a41",
        F,
        "2024-05-06T14:34:09Z",
    ),
    "DeleteMediaComplete.doc.json": (
        m.DeleteMediaComplete,
        "1234343b689a4e3ba5422dfe1e47aa01",
        S,
        "2024-05-06T12:00:00Z",
    ),
    "MediaBaseChangeComplete.doc.json": (
        m.MediaBaseChangeComplete,
        "3b46b391419a4294a83b459f7435aa01",
        S,
        "2024-05-06T02:18:58Z",
    ),
    "UpdateMediaStorageClassComplete.doc.json": (
        m.UpdateMediaStorageClassComplete,
        "71151b80f2d471ecb21b472190a9aa01",
        S,
        "2024-06-23T13:11:33Z",
    ),
    "RestoreMediaComplete.fail.json": (
        m.RestoreMediaComplete,
        "71151b80f2d471ecb21b472190a9aa01",
        F,
        "2024-06-23T13:11:33Z",
    ),
    "SubmitMediaRefreshComplete.doc.json": (
        m.SubmitMediaRefreshComplete,
        "affab1a4c6ed4408aead501f32b5aa01",
        S,
        "2024-05-30T08:59:21Z",
    ),
    "WorkflowTaskComplete.doc.json": (
        m.WorkflowTaskComplete,
        "b0e8aa01",
        S,
        "2025-10-15T02:00:40Z",
    ),
    "VodFutureFeatureComplete.unknown.json": (
        GenericEvent,
        "d1b2c3d4e5f60718293a4b5c6d7e8f90",
        S,
        "2026-01-02T03:04:05Z",
    ),
}


def load(name: str) -> tuple[VodEvent, dict[str, Any]]:
    return parse_event_bytes((FIXTURES / name).read_bytes())


def ev(**fields: Any) -> VodEvent:
    return parse_event(fields)


# --- fixtures ---------------------------------------------------------------------------


def test_every_fixture_is_expected() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(EXPECTED)


def test_every_documented_type_has_a_fixture() -> None:
    covered = {name.split(".")[0] for name in EXPECTED}
    assert set(EVENT_TYPES) <= covered


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses(name: str) -> None:
    model, media_id, status, when = EXPECTED[name]
    event, raw = load(name)
    assert type(event) is model
    assert event.event_type == name.split(".")[0]
    assert event.media_id == media_id
    assert event.status is status
    assert event.event_time is not None
    assert event.event_time.tzinfo is not None
    assert event.event_time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert event.to_dict()["EventTime"] == when
    # the normalised dump is JSON-able, re-parses to the same thing and keeps extras
    dumped = event.model_dump(by_alias=True)
    orjson.dumps(dumped)
    again = parse_event(orjson.loads(orjson.dumps(event.to_dict())))
    assert again.to_dict() == event.to_dict()
    assert dedup_key(again) == dedup_key(event)
    assert set(raw) >= {"EventType"}


def test_mns_vector_decodes_to_fixture() -> None:
    b64 = (
        "eyJFdmVudFRpbWUiOiIyMDI0LTA1LTA2VDA5OjQ5OjMzWiIsIkV2ZW50VHlwZSI6IkZpbGVVcGxvYWRDb21wbGV0"
        "ZSIsIlZpZGVvSWQiOiJhMWIyYzNkNGU1ZjYwNzE4MjkzYTRiNWM2ZDdlOGY5MCIsIlN0YXR1cyI6InN1Y2Nlc3Mi"
        "LCJTaXplIjoxNDM5MjEzfQ=="
    )
    decoded = base64.b64decode(b64, validate=True)
    assert decoded == (FIXTURES / "FileUploadComplete.mns.json").read_bytes().strip()
    event, raw = parse_event_bytes(decoded)
    assert isinstance(event, m.FileUploadComplete)
    assert event.size == 1439213
    assert raw["Size"] == 1439213


# --- registry ---------------------------------------------------------------------------


def test_event_types_in_doc_order() -> None:
    assert EVENT_TYPES == (
        "FileUploadComplete",
        "ImageUploadComplete",
        "AttachedMediaUploadComplete",
        "UploadByURLComplete",
        "StreamTranscodeComplete",
        "TranscodeComplete",
        "SnapshotComplete",
        "DynamicImageComplete",
        "VideoAnalysisComplete",
        "AddLiveRecordVideoComplete",
        "LiveRecordVideoComposeStart",
        "CreateAuditComplete",
        "AIMediaAuditComplete",
        "AIMediaDNAComplete",
        "AIVideoTagComplete",
        "ProduceMediaComplete",
        "DeleteMediaComplete",
        "MediaBaseChangeComplete",
        "UpdateMediaStorageClassComplete",
        "RestoreMediaComplete",
        "SubmitMediaRefreshComplete",
        "WorkflowTaskComplete",
    )
    assert set(EVENT_MODELS) == {*EVENT_TYPES, "AIVideoCensorComplete"}
    for name in EVENT_TYPES:
        model = EVENT_MODELS[name]
        assert name == model.EVENT_TYPE


def test_legacy_censor_alias_keeps_event_type() -> None:
    event, _ = load("AIVideoCensorComplete.legacy.json")
    assert isinstance(event, m.AIMediaAuditComplete)
    assert event.event_type == "AIVideoCensorComplete"
    assert event.suggestion == "review"
    assert event.raw_status == "Success"


def test_unknown_type_is_generic_and_keeps_everything() -> None:
    event, _ = load("VodFutureFeatureComplete.unknown.json")
    assert type(event) is GenericEvent
    assert event.event_type == "VodFutureFeatureComplete"
    assert event.job_id == "f00dfeed"
    assert event.model_extra == {"NewField": {"Nested": [1, 2, 3]}}
    assert event.to_dict()["NewField"] == {"Nested": [1, 2, 3]}


def test_event_type_whitespace_is_tolerated() -> None:
    event = parse_event({"EventType ": " FileUploadComplete ", "VideoId": "v"})
    assert isinstance(event, m.FileUploadComplete)
    assert event.event_type == "FileUploadComplete"


# --- cross-cutting conventions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("success", S),
        ("Success", S),
        ("SUCCESS", S),
        ("Succeed", S),
        (" succeeded ", S),
        ("fail", F),
        ("Failed", F),
        ("failed", F),
        ("Failure", F),
        ("FAIL", F),
        ("Processing", None),
        ("", None),
        (1, None),
        (True, None),
        ({"a": 1}, None),
    ],
)
def test_status_normalisation(raw: Any, expected: EventStatus | None) -> None:
    event = ev(EventType="FileUploadComplete", Status=raw)
    assert event.status is expected
    assert event.raw_status is not None
    if isinstance(raw, str):
        assert event.raw_status == raw
        # understood words dump normalised, unknown ones dump as sent
        assert event.to_dict()["Status"] == (expected.value if expected else raw)


def test_status_absent() -> None:
    event = ev(EventType="SnapshotComplete")
    assert event.status is None
    assert event.raw_status is None
    assert not event.succeeded


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2017-03-20T07:49:17Z", "2017-03-20T07:49:17Z"),
        ("2024-04-10T01:37:14:627Z", "2024-04-10T01:37:14.627Z"),
        ("2024-04-10T01:37:14.627Z", "2024-04-10T01:37:14.627Z"),
        ("2024-04-10T01:37:14.627", "2024-04-10T01:37:14.627Z"),
        ("2024-04-10T01:37:14", "2024-04-10T01:37:14Z"),
        ("2024-04-10 01:37:14Z", "2024-04-10T01:37:14Z"),
        ("2024-04-10T09:37:14+08:00", "2024-04-10T01:37:14Z"),
        ("2024-04-10T01:37:14.123456789Z", "2024-04-10T01:37:14.123456Z"),
    ],
)
def test_event_time_variants(raw: str, iso: str) -> None:
    event = ev(EventType="ImageUploadComplete", EventTime=raw)
    assert event.event_time is not None
    assert event.event_time.tzinfo is not None
    assert event.event_time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert event.to_dict()["EventTime"] == iso
    assert event.raw_event_time == raw


def test_colon_millis_value() -> None:
    event, _ = load("ImageUploadComplete.ms-colon.json")
    assert event.event_time == datetime(2024, 4, 10, 1, 37, 14, 627000, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", ["yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", 1700000000, {"a": 1}]
)
def test_unparseable_time_does_not_fail(raw: Any) -> None:
    event = ev(EventType="FileUploadComplete", EventTime=raw, VideoId="v")
    assert event.event_time is None
    assert event.raw_event_time is not None
    assert event.media_id == "v"
    if isinstance(raw, str):
        assert event.raw_event_time == raw
        assert event.to_dict()["EventTime"] == raw  # kept, not lost


def test_quoted_numbers() -> None:
    event, _ = load("VideoAnalysisComplete.quoted-numbers.json")
    assert isinstance(event, m.VideoAnalysisComplete)
    assert event.duration == 12.0
    assert (event.width, event.height, event.size) == (630, 360, 1234568)
    assert (event.fps, event.bitrate) == (30.0, 499.0)
    assert isinstance(event.size, int)


def test_real_stream_numbers() -> None:
    event, _ = load("StreamTranscodeComplete.real.json")
    assert isinstance(event, m.StreamTranscodeComplete)
    assert (event.bitrate, event.fps, event.duration) == (120.0, 25.0, 10.0)
    assert (event.width, event.height, event.size) == (960, 540, 150212)
    assert event.encrypt is False
    assert event.is_audio is False
    assert (event.definition, event.format) == ("LD", "m3u8")
    assert event.job_id == "05794af1ffee414fa1ea2210720bff09"


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_blank_numbers_are_none(blank: Any) -> None:
    event = ev(EventType="VideoAnalysisComplete", Width=blank, Duration=blank, Fps=blank)
    assert isinstance(event, m.VideoAnalysisComplete)
    assert (event.width, event.duration, event.fps) == (None, None, None)


def test_string_ids_accept_numbers() -> None:
    event = ev(EventType="WorkflowTaskComplete", UserId=1833220977560000, TaskId=70422)
    assert isinstance(event, m.WorkflowTaskComplete)
    assert (event.user_id, event.task_id) == ("1833220977560000", "70422")


@pytest.mark.parametrize(
    "body",
    [
        {"EventType": "FileUploadComplete", "Size": "abc"},
        {"EventType": "VideoAnalysisComplete", "Duration": "NaN"},
        {"EventType": "FileUploadComplete", "VideoId": {"x": 1}},
        {"EventType": "TranscodeComplete", "StreamInfos": [1, 2]},
    ],
)
def test_garbage_values_give_validation_summary(body: dict[str, Any]) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(body)
    assert info.value.reason.startswith("invalid fields: ")
    assert info.value.event_type == body["EventType"]
    assert len(info.value.reason) < 400


def test_extend_json_text_and_plain_text_and_object() -> None:
    event, _ = load("FileUploadComplete.doc.json")
    assert event.extend == {"tenant": "t-42", "localId": "up-9001"}
    event, _ = load("UploadByURLComplete.stream.json")
    assert event.extend == "test data"
    assert ev(EventType="X", Extend={"a": 1}).extend == {"a": 1}
    assert ev(EventType="X", Extend="[1, 2]").extend == [1, 2]
    assert ev(EventType="X", Extend="{broken").extend == "{broken"
    assert ev(EventType="X", Extend='"just a json string"').extend == '"just a json string"'
    assert ev(EventType="X", Extend=12).extend == "12"


def test_embedded_json_too_deep_stays_text() -> None:
    deep = "[" * 5000 + "]" * 5000  # would be parsed recursively; must stay a string
    assert ev(EventType="X", Extend=deep).extend == deep


def test_ai_data_string_and_object() -> None:
    text, _ = load("AIMediaAuditComplete.doc.json")
    obj, _ = load("AIMediaAuditComplete.data-object.json")
    assert isinstance(text, m.AIMediaAuditComplete)
    assert isinstance(obj, m.AIMediaAuditComplete)
    assert isinstance(text.data, dict)
    assert text.suggestion == "review"
    assert text.label == "porn"
    assert isinstance(obj.data, dict)
    assert obj.suggestion == "block"
    assert obj.data["VideoResult"]["TerrorismResult"]["TopList"][0]["Timestamp"] == "5000"
    assert ev(EventType="AIMediaAuditComplete", Data='{"Suggestion":"PASS"}').suggestion == "pass"  # type: ignore[attr-defined]
    assert ev(EventType="AIMediaAuditComplete", Data='{"Suggestion":"maybe"}').suggestion is None  # type: ignore[attr-defined]
    assert ev(EventType="AIMediaAuditComplete", Data="not json").suggestion is None  # type: ignore[attr-defined]


def test_other_json_in_string_fields() -> None:
    dyn, _ = load("DynamicImageComplete.doc.json")
    assert isinstance(dyn, m.DynamicImageComplete)
    assert isinstance(dyn.dynamic_image_job_info, dict)
    assert dyn.dynamic_image_job_info["FileSize"] == "1834831"

    refresh, _ = load("SubmitMediaRefreshComplete.doc.json")
    assert isinstance(refresh, m.SubmitMediaRefreshComplete)
    assert refresh.filter_policy == {"SliceFlag": False, "ResultType": "Single"}
    assert refresh.task_id_list == ["14604351234"]
    assert refresh.success_play_url_list == ["https://cdn.example.com/sv/4841bb0f/4841bb0f.mp4"]

    wf, _ = load("WorkflowTaskComplete.doc.json")
    assert isinstance(wf, m.WorkflowTaskComplete)
    assert wf.raw_status == "Succeed"
    assert wf.task_input == {}
    assert isinstance(wf.activity_results, dict)
    assert wf.activity_results["VideoTranslation"]["Result"]["Status"] == "Finished"
    assert wf.finish_time == datetime(2025, 10, 15, 2, 0, 33, tzinfo=UTC)


def test_media_content_double_encoded_and_object() -> None:
    event, _ = load("MediaBaseChangeComplete.doc.json")
    assert isinstance(event, m.MediaBaseChangeComplete)
    assert event.media_content == {
        "Title": {"OldValue": "draft.mp4", "NewValue": "Lecture 1"},
        "CateId": {"NewValue": 1000020001},
    }
    assert event.changes() == {"Title": ("draft.mp4", "Lecture 1"), "CateId": (None, 1000020001)}
    as_object = parse_event({**event.to_dict(), "MediaContent": event.media_content})
    assert isinstance(as_object, m.MediaBaseChangeComplete)
    assert as_object.media_content == event.media_content
    assert dedup_key(as_object) == dedup_key(event)


def test_trailing_space_keys() -> None:
    event, raw = load("UploadByURLComplete.doc-bug.json")
    assert isinstance(event, m.UploadByURLComplete)
    assert event.source_url == "https://src.example.com/raw/lecture-02.mp4"
    assert event.error_code == "URLInvalidError"
    assert "SourceURL " in raw  # the decoded dict is returned untouched
    assert "SourceURL" in event.to_dict()
    # an already-clean key wins over a trimmed duplicate
    dup = ev(EventType="UploadByURLComplete", **{"SourceURL ": "b", "SourceURL": "a"})
    assert isinstance(dup, m.UploadByURLComplete)
    assert dup.source_url == "a"


def test_file_url_spellings() -> None:
    img, _ = load("ImageUploadComplete.ms-colon.json")
    assert isinstance(img, m.ImageUploadComplete)
    assert img.file_url is not None
    assert img.file_url.endswith("AF8018C2908A434.jpg")
    assert "FileURL" in img.to_dict()
    swapped = ev(EventType="FileUploadComplete", FileURL="http://x/y.mp4")
    assert isinstance(swapped, m.FileUploadComplete)
    assert swapped.file_url == "http://x/y.mp4"


def test_extra_keys_kept_and_round_trip() -> None:
    event, _ = load("TranscodeComplete.real.json")
    assert isinstance(event, m.TranscodeComplete)
    body = {**event.to_dict(), "Brand": "new", "Nested": {"k": [1]}}
    again = parse_event(body)
    assert again.model_extra == {"Brand": "new", "Nested": {"k": [1]}}
    assert again.to_dict()["Nested"] == {"k": [1]}
    assert again.model_dump(by_alias=True)["Brand"] == "new"


def test_transcode_stream_infos() -> None:
    event, _ = load("TranscodeComplete.real.json")
    assert isinstance(event, m.TranscodeComplete)
    assert [type(s) for s in event.stream_infos] == [StreamInfo, StreamInfo]
    sd = event.stream_infos[0]
    assert (sd.definition, sd.bitrate, sd.fps, sd.size, sd.encrypt) == (
        "SD",
        1110.0,
        25.0,
        21437828,
        True,
    )
    assert sd.start_time == datetime(2020, 7, 10, 6, 49, 24, tzinfo=UTC)
    assert sd.job_id == "4f6930223ca748bcbbd3369654096d1f"
    assert event.failed_streams == []
    failed = parse_event({**event.to_dict(), "StreamInfos": [{"Status": "fail", "JobId": "j"}]})
    assert isinstance(failed, m.TranscodeComplete)
    assert [s.job_id for s in failed.failed_streams] == ["j"]
    assert (
        m.TranscodeComplete.model_validate(
            {"EventType": "TranscodeComplete", "StreamInfos": None}
        ).stream_infos
        == []
    )


def test_snapshot_urls() -> None:
    event, _ = load("SnapshotComplete.doc.json")
    assert isinstance(event, m.SnapshotComplete)
    normal, sprite = event.snapshot_infos
    assert isinstance(normal, SnapshotInfo)
    assert normal.snapshot_type == "NormalSnapshot"
    assert normal.urls() == [
        f"http://vod.example.com/a1b2c3d4/snapshots/normal/3F1E-0000{i}.jpg" for i in (1, 2, 3)
    ]
    assert normal.paths()[0] == "a1b2c3d4/snapshots/normal/3F1E-00001.jpg"
    assert sprite.urls() == ["http://vod.example.com/a1b2c3d4/snapshots/sprite/3F1E-00001.jpg"]
    assert event.sub_type == "SpecifiedTime"
    bare, _ = load("SnapshotComplete.no-videoid.json")
    assert isinstance(bare, m.SnapshotComplete)
    assert bare.snapshot_infos[0].snapshot_count == 5
    assert len(bare.snapshot_infos[0].urls()) == 5
    assert (
        SnapshotInfo.model_validate(
            {"SnapshotCount": 0, "SnapshotRegular": "x{SnapshotCount}"}
        ).urls()
        == []
    )
    huge = SnapshotInfo.model_validate(
        {"SnapshotCount": 10**12, "SnapshotRegular": "{SnapshotCount}"}
    )
    assert len(huge.urls()) == m.MAX_SNAPSHOT_URLS


def test_media_id_sources() -> None:
    assert ev(EventType="X", VideoId="v").media_id == "v"
    assert ev(EventType="X", MediaId="m").media_id == "m"
    assert ev(EventType="X", ImageId="i").media_id == "i"
    assert ev(EventType="X", AttachedMediaId="a").media_id == "a"
    assert ev(EventType="X", VideoId="", MediaId="m").media_id == "m"
    assert ev(EventType="X").media_id is None
    # AI events are keyed by MediaId; some receivers fall back to VideoId
    assert ev(EventType="AIMediaAuditComplete", VideoId="v", MediaId="m").media_id == "m"
    assert ev(EventType="AIMediaAuditComplete", VideoId="v").media_id == "v"


def test_error_fields() -> None:
    fail, _ = load("ProduceMediaComplete.fail.json")
    assert fail.error_code == "InvalidParameter.ResourceContentBad"
    assert fail.error_message == "The resource operated InputFile is bad"
    ok, _ = load("AIMediaDNAComplete.doc.json")
    assert (ok.error_code, ok.error_message) == (None, None)
    bad = ev(EventType="AIVideoTagComplete", Status="fail", Code="InvalidVideo", Message="broken")
    assert (bad.error_code, bad.error_message) == ("InvalidVideo", "broken")
    assert ev(EventType="FileUploadComplete", ErrorCode="").error_code is None


def test_model_dump_is_json_able_with_z_times() -> None:
    event, _ = load("AddLiveRecordVideoComplete.doc.json")
    dumped = event.model_dump(by_alias=True)
    assert dumped["EventTime"] == "2024-05-06T09:26:17Z"
    assert dumped["RecordStartTime"] == "2024-05-06T07:40:56Z"
    assert dumped["Status"] == "success"
    json.dumps(dumped)  # stdlib: no datetimes/enums left
    assert "raw_status" not in dumped
    assert "raw_event_time" not in dumped


def test_lenient_secondary_time_keeps_text() -> None:
    event = ev(EventType="AddLiveRecordVideoComplete", RecordStartTime="not a time")
    assert isinstance(event, m.AddLiveRecordVideoComplete)
    assert event.record_start_time == "not a time"
    assert event.to_dict()["RecordStartTime"] == "not a time"


def test_caller_dict_not_mutated() -> None:
    body = {"EventType": "FileUploadComplete", "Status": "Success", "EventTime": "x", "A ": 1}
    before = dict(body)
    parse_event(body)
    assert body == before


# --- EventParseError reasons ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"EventType":"FileUploadComplete","VideoId":"\xff\xfe"}', "body is not valid UTF-8"),
        (b"\xef\xbb\xbf\xc3\x28", "body is not valid UTF-8"),
        (b"", "body is not valid JSON"),
        (b"{", "body is not valid JSON"),
        (b'{"EventType":"X",}', "body is not valid JSON"),  # the doc sample's trailing comma
        (b"NaN", "body is not valid JSON"),
        (b"[]", "body is not a JSON object"),
        (b'[{"EventType":"FileUploadComplete"}]', "body is not a JSON object"),
        (b'"FileUploadComplete"', "body is not a JSON object"),
        (b"null", "body is not a JSON object"),
        (b"{}", "EventType missing"),
        (b'{"VideoId":"v"}', "EventType missing"),
        (b'{"EventType":null}', "EventType missing"),
        (b'{"EventType":12}', "EventType is not a string"),
        (b'{"EventType":["FileUploadComplete"]}', "EventType is not a string"),
        (b'{"EventType":"  "}', "EventType is empty"),
    ],
)
def test_parse_error_reasons(body: bytes, reason: str) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event_bytes(body)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_utf8_bom_is_tolerated() -> None:
    event, _ = parse_event_bytes(b'\xef\xbb\xbf{"EventType":"FileUploadComplete"}')
    assert isinstance(event, m.FileUploadComplete)


def test_memoryview_and_bytearray() -> None:
    body = (FIXTURES / "FileUploadComplete.mns.json").read_bytes()
    assert (
        parse_event_bytes(bytearray(body))[0].media_id
        == parse_event_bytes(memoryview(body))[0].media_id
    )


@pytest.mark.parametrize("levels", [1001, 5000, 200_000])
def test_too_deep_nesting(levels: int) -> None:
    body = b'{"EventType":"X","a":' + b"[" * levels + b"]" * levels + b"}"
    with pytest.raises(EventParseError) as info:
        parse_event_bytes(body)
    assert info.value.reason == "JSON nesting too deep"
    deep_objects = b'{"a":' * levels + b"1" + b"}" * levels
    with pytest.raises(EventParseError, match="nesting too deep"):
        parse_event_bytes(deep_objects)


def test_nesting_limit_boundary() -> None:
    inner = MAX_JSON_DEPTH - 1  # the outer object is level 1
    ok = b'{"EventType":"X","a":' + b"[" * inner + b"]" * inner + b"}"
    event, _ = parse_event_bytes(ok)
    orjson.dumps(event.to_dict())  # anything accepted can also be written back
    over = b'{"EventType":"X","a":' + b"[" * (inner + 1) + b"]" * (inner + 1) + b"}"
    with pytest.raises(EventParseError):
        parse_event_bytes(over)


def test_brackets_inside_strings_do_not_count() -> None:
    body = orjson.dumps({"EventType": "X", "Extend": "[" * 5000 + "{" * 5000})
    event, _ = parse_event_bytes(body)
    assert event.extend == "[" * 5000 + "{" * 5000


@pytest.mark.parametrize("data", [None, [], "x", 1, b"{}"])
def test_parse_event_rejects_non_objects(data: Any) -> None:
    with pytest.raises(EventParseError, match="body is not a JSON object"):
        parse_event(data)


# --- property tests ---------------------------------------------------------------------

_ALL_MODELS: list[type[BaseModel]] = [*EVENT_MODELS.values(), StreamInfo, SnapshotInfo]
_KNOWN_KEYS = sorted(
    {f.alias for model in _ALL_MODELS for f in model.model_fields.values() if f.alias}
    | {"FileURL", "FileUrl"}
)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            " 12 ",
            "1e3",
            "2024-04-10T01:37:14:627Z",
            "{}",
            "[1]",
            '{"Suggestion":"block"}',
            "Succeed",
            "FAILED",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_bodies = st.fixed_dictionaries(
    # mostly real type names, so the field validators (not the EventType check) get fuzzed
    {"EventType": st.one_of(*[st.sampled_from([*EVENT_MODELS, "Other", ""])] * 4, _json_values)},
    optional={"EventTime": _json_values, "Status": _json_values},
).flatmap(
    lambda base: st.dictionaries(
        st.sampled_from(_KNOWN_KEYS) | st.text(max_size=10), _json_values, max_size=8
    ).map(lambda extra: {**extra, **base})
)


def _check(body: bytes) -> None:
    try:
        event, raw = parse_event_bytes(body)
    except EventParseError as exc:
        assert exc.reason
        return
    assert isinstance(raw, dict)
    key = dedup_key(event)
    assert key.count("|") >= 3
    assert len(key) < 512
    orjson.dumps(event.to_dict())
    orjson.dumps(event.model_dump(by_alias=True))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_event_parse_error(body: bytes) -> None:
    _check(body)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_arbitrary_json_values_only_raise_event_parse_error(value: Any) -> None:
    _check(json.dumps(value).encode())


@settings(max_examples=500, deadline=None)
@given(_bodies)
def test_event_shaped_bodies_only_raise_event_parse_error(value: dict[str, Any]) -> None:
    _check(json.dumps(value).encode())
    with contextlib.suppress(EventParseError):
        parse_event(value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_event_time_never_fails(text: str) -> None:
    event = parse_event({"EventType": "FileUploadComplete", "EventTime": text})
    assert event.raw_event_time == text
    if event.event_time is not None:
        assert event.event_time.utcoffset() is not None
