"""sample_event: realistic, parseable bodies for every type; overrides behave like the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from receiver.events import (
    EVENT_MODELS,
    EVENT_TYPES,
    EventStatus,
    GenericEvent,
    dedup_key,
    parse_event,
    parse_event_bytes,
    sample_event,
)
from receiver.events.samples import decode_override

NOW = datetime(2024, 5, 6, 9, 49, 33, 123456, tzinfo=UTC)
HEX32 = re.compile(r"[0-9a-f]{32}")
ALL_TYPES = [*EVENT_TYPES, "AIVideoCensorComplete", "SomethingNew"]


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_type_parses_to_its_model(event_type: str) -> None:
    body = sample_event(event_type, now=NOW)
    event, _ = parse_event_bytes(orjson.dumps(body))
    assert type(event) is EVENT_MODELS.get(event_type, GenericEvent)
    assert event.event_type == event_type
    assert body["EventTime"] == "2024-05-06T09:49:33Z"
    assert event.event_time == NOW.replace(microsecond=0)
    assert event.status is EventStatus.SUCCESS
    assert event.media_id is not None
    assert HEX32.fullmatch(event.media_id)
    assert event.model_extra == {}, "samples use only modelled keys"
    assert all(k[:1].isupper() for k in body)
    dedup_key(event)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_media_id_goes_to_the_types_id_field(event_type: str) -> None:
    event = parse_event(sample_event(event_type, media_id="m-1"))
    assert event.media_id == "m-1"


def test_status_spelled_like_vod() -> None:
    assert sample_event("UpdateMediaStorageClassComplete")["Status"] == "Success"
    assert sample_event("RestoreMediaComplete")["Status"] == "Success"
    assert sample_event("WorkflowTaskComplete")["Status"] == "Succeed"
    assert sample_event("FileUploadComplete")["Status"] == "success"


def test_json_in_string_fields_are_strings() -> None:
    assert isinstance(sample_event("FileUploadComplete")["Extend"], str)
    assert isinstance(sample_event("AIMediaAuditComplete")["Data"], str)
    assert isinstance(sample_event("MediaBaseChangeComplete")["MediaContent"], str)
    assert isinstance(sample_event("DynamicImageComplete")["DynamicImageJobInfo"], str)
    assert isinstance(sample_event("SubmitMediaRefreshComplete")["FilterPolicy"], str)
    wf = sample_event("WorkflowTaskComplete")
    assert isinstance(wf["ActivityResults"], str)
    assert isinstance(wf["TaskInput"], str)


def test_random_ids_differ_between_calls() -> None:
    a, b = sample_event("StreamTranscodeComplete"), sample_event("StreamTranscodeComplete")
    assert a["VideoId"] != b["VideoId"]
    assert HEX32.fullmatch(a["JobId"])
    assert dedup_key(parse_event(a)) != dedup_key(parse_event(b))


def test_related_fields_agree() -> None:
    dyn = sample_event("DynamicImageComplete")
    info = orjson.loads(dyn["DynamicImageJobInfo"])
    assert info["JobId"] == dyn["JobId"]
    tc = parse_event(sample_event("TranscodeComplete", media_id="vid"))
    assert len({s.job_id for s in tc.stream_infos}) == 2  # type: ignore[attr-defined]


def test_overrides_applied_last_and_json_decoded() -> None:
    body = sample_event(
        "FileUploadComplete",
        {
            "Size": "12",
            "Status": "fail",
            "Extend": '{"a": 1}',
            "Note": "plain text",
            "Flag": "true",
            "VideoId": "given",
            "Raw": 5,
        },
        media_id="ignored",
    )
    assert body["Size"] == 12
    assert body["Status"] == "fail"
    assert body["Extend"] == {"a": 1}
    assert body["Note"] == "plain text"
    assert body["Flag"] is True
    assert body["VideoId"] == "given"
    assert body["Raw"] == 5
    event = parse_event(body)
    assert event.status is EventStatus.FAIL
    assert event.media_id == "given"


def test_decode_override() -> None:
    assert decode_override('"quoted"') == "quoted"
    assert decode_override("null") is None
    assert decode_override("[1,2]") == [1, 2]
    assert decode_override("2024-05-06T09:49:33Z") == "2024-05-06T09:49:33Z"
    assert decode_override("") == ""
    deep = "[" * 100_000
    assert decode_override(deep) == deep


def test_now_handling() -> None:
    naive = sample_event("FileUploadComplete", now=datetime(2024, 1, 2, 3, 4, 5))
    assert naive["EventTime"] == "2024-01-02T03:04:05Z"
    plus8 = timezone(timedelta(hours=8))
    aware = sample_event("FileUploadComplete", now=datetime(2024, 1, 2, 11, 4, 5, tzinfo=plus8))
    assert aware["EventTime"] == "2024-01-02T03:04:05Z"
    fresh = parse_event(sample_event("FileUploadComplete"))
    assert fresh.event_time is not None
    assert abs(datetime.now(UTC) - fresh.event_time) < timedelta(seconds=5)


def test_unknown_type_is_minimal() -> None:
    body = sample_event("SomethingNew", now=NOW, media_id="m")
    assert body == {
        "EventType": "SomethingNew",
        "EventTime": "2024-05-06T09:49:33Z",
        "MediaId": "m",
        "Status": "success",
    }
