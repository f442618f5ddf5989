"""dedup_key: one key per logical event across retries/transports, distinct otherwise."""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from receiver.events import EVENT_TYPES, dedup_key, parse_event, parse_event_bytes
from receiver.events import dedup as dedup_module

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"
KEY_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6}|[^|]+)\|[^|]+\|[^|]+(\|[^|]+)+$")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def key_of(body: dict[str, Any]) -> str:
    return dedup_key(parse_event(body))


def reserialise(body: dict[str, Any], seed: int) -> bytes:
    """Same JSON, different key order and whitespace, as another transport may send it."""
    rnd = random.Random(seed)

    def shuffle(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(value, list):
            return [shuffle(v) for v in value]
        return value

    return json.dumps(
        shuffle(body), indent=rnd.choice([None, 1, 4]), ensure_ascii=rnd.random() < 0.5
    ).encode()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_same_event_same_key_regardless_of_serialisation(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    expected = dedup_key(parse_event_bytes(raw)[0])
    assert KEY_RE.match(expected), expected
    body = json.loads(raw)
    for seed in range(5):
        assert dedup_key(parse_event_bytes(reserialise(body, seed))[0]) == expected


def test_fixture_keys_are_distinct() -> None:
    keys = [key_of(fixture(p.name)) for p in FIXTURES.glob("*.json")]
    # every fixture is a different logical event (the .doc and .mns FileUploadComplete
    # share time, video and size but not FileUrl), so every fixture has its own key
    assert len(set(keys)) == len(keys)


def test_http_and_mns_base64_give_same_key() -> None:
    http_body = (FIXTURES / "FileUploadComplete.mns.json").read_bytes()
    mns_body = base64.b64decode(base64.b64encode(http_body.strip()))
    assert dedup_key(parse_event_bytes(http_body)[0]) == dedup_key(parse_event_bytes(mns_body)[0])


def test_normalised_values_do_not_change_key() -> None:
    base = fixture("VideoAnalysisComplete.quoted-numbers.json")
    unquoted = {**base, "Duration": 12, "Size": 1234568, "Status": "Success"}
    assert key_of(base) == key_of(unquoted)
    up = fixture("FileUploadComplete.doc.json")
    assert key_of(up) == key_of({**up, "Size": str(up["Size"])})
    assert key_of(up) == key_of({**up, "Extend": json.loads(up["Extend"])})
    assert key_of(up) == key_of({**up, "EventTime": "2024-05-06T09:49:33.000Z"})


def test_stream_transcodes_of_one_video_in_one_second_differ() -> None:
    sd = fixture("StreamTranscodeComplete.real.json")
    hd = {**sd, "Definition": "HD", "Format": "mp4", "JobId": "99994af1ffee414fa1ea2210720bff09"}
    assert key_of(sd) != key_of(hd)
    assert key_of(sd) != key_of({**sd, "Format": "mp4"})  # even if JobId were reused


# (fixture, field, new value): changing that field must change the key
DISCRIMINATORS: list[tuple[str, str, Any]] = [
    ("FileUploadComplete.doc.json", "FileUrl", "http://x/other.mp4"),
    ("FileUploadComplete.doc.json", "Size", 1),
    ("FileUploadComplete.doc.json", "Status", "fail"),
    ("FileUploadComplete.doc.json", "VideoId", "other"),
    ("FileUploadComplete.doc.json", "EventTime", "2024-05-06T09:49:34Z"),
    ("FileUploadComplete.doc.json", "EventTime", "2024-05-06T09:49:33.001Z"),
    ("ImageUploadComplete.ms-colon.json", "FileURL", "http://x/1.jpg"),
    ("ImageUploadComplete.ms-colon.json", "Size", 2),
    ("AttachedMediaUploadComplete.doc.json", "FileURL", "http://x/w.png"),
    ("UploadByURLComplete.fail.json", "JobId", "other"),
    ("UploadByURLComplete.fail.json", "Status", "success"),
    ("StreamTranscodeComplete.real.json", "JobId", "other"),
    ("StreamTranscodeComplete.real.json", "Definition", "HD"),
    ("StreamTranscodeComplete.real.json", "Format", "mp4"),
    ("StreamTranscodeComplete.real.json", "Status", "fail"),
    ("TranscodeComplete.real.json", "Status", "fail"),
    ("TranscodeComplete.real.json", "StreamInfos", [{"JobId": "only-one"}]),
    ("SnapshotComplete.doc.json", "SubType", None),
    ("SnapshotComplete.doc.json", "Status", "fail"),
    ("SnapshotComplete.doc.json", "SnapshotInfos", [{"JobId": "x"}]),
    ("SnapshotComplete.doc.json", "CoverUrl", "http://x/c.jpg"),
    ("DynamicImageComplete.doc.json", "JobId", "other"),
    ("VideoAnalysisComplete.quoted-numbers.json", "Status", "fail"),
    ("AddLiveRecordVideoComplete.doc.json", "RecordStartTime", "2024-05-06T08:00:00Z"),
    ("AddLiveRecordVideoComplete.doc.json", "RecordEndTime", "2024-05-06T10:00:00Z"),
    ("LiveRecordVideoComposeStart.doc.json", "StreamName", "room-8"),
    ("CreateAuditComplete.doc.json", "AuditStatus", "Normal"),
    ("CreateAuditComplete.doc.json", "CreationTime", "2024-05-06T11:00:01Z"),
    ("AIMediaAuditComplete.doc.json", "JobId", "other"),
    ("AIMediaAuditComplete.doc.json", "Status", "fail"),
    ("AIMediaDNAComplete.doc.json", "JobId", "other"),
    ("AIVideoTagComplete.doc.json", "JobId", "other"),
    ("AIVideoCensorComplete.legacy.json", "JobId", "other"),
    ("ProduceMediaComplete.fail.json", "ProjectId", "other"),
    ("DeleteMediaComplete.doc.json", "DeleteType", "stream"),
    ("DeleteMediaComplete.doc.json", "JobIds", "a,b"),
    ("MediaBaseChangeComplete.doc.json", "OperateMode", "create"),
    ("MediaBaseChangeComplete.doc.json", "MediaContent", '{"Title":"{\\"NewValue\\":\\"x\\"}"}'),
    ("UpdateMediaStorageClassComplete.doc.json", "StorageClass", "IA"),
    ("UpdateMediaStorageClassComplete.doc.json", "Scope", "SourceFile"),
    ("RestoreMediaComplete.fail.json", "Status", "Success"),
    ("SubmitMediaRefreshComplete.doc.json", "MediaRefreshJobId", "other"),
    ("SubmitMediaRefreshComplete.doc.json", "TaskType", "Preload"),
    ("WorkflowTaskComplete.doc.json", "TaskId", "other"),
    ("WorkflowTaskComplete.doc.json", "WorkflowId", "other"),
    ("VodFutureFeatureComplete.unknown.json", "NewField", {"Nested": [1, 2]}),
    ("VodFutureFeatureComplete.unknown.json", "Anything", 1),
]


@pytest.mark.parametrize(("name", "field", "value"), DISCRIMINATORS)
def test_each_discriminator_changes_key(name: str, field: str, value: Any) -> None:
    body = fixture(name)
    assert key_of(body) != key_of({**body, field: value})


def test_every_type_has_a_documented_rule() -> None:
    doc = dedup_module.__doc__ or ""
    for name in (*EVENT_TYPES, "AIVideoCensorComplete"):
        assert name in doc
        assert name in dedup_module._RULES


def test_time_prefix_and_ordering() -> None:
    body = fixture("FileUploadComplete.doc.json")
    times = [
        "2024-05-06T09:49:33Z",
        "2024-05-06T09:49:33:500Z",
        "2024-05-06T09:49:34Z",
        "2024-05-06T10:00:00Z",
        "2025-01-01T00:00:00Z",
    ]
    keys = [key_of({**body, "EventTime": t}) for t in times]
    assert keys == sorted(keys)
    assert keys[0].startswith(
        "20240506T094933.000000|FileUploadComplete|a1b2c3d4e5f60718293a4b5c6d7e8f90|"
    )
    assert keys[1].startswith("20240506T094933.500000|")
    # another offset, same instant -> same key
    assert key_of({**body, "EventTime": "2024-05-06T17:49:33+08:00"}) == keys[0]


def test_unparseable_and_missing_time() -> None:
    body = fixture("FileUploadComplete.doc.json")
    assert key_of({**body, "EventTime": "garbage"}).startswith("garbage|FileUploadComplete|")
    no_time = {k: v for k, v in body.items() if k != "EventTime"}
    assert key_of(no_time).startswith("-|FileUploadComplete|")


def test_long_and_unsafe_parts_are_hashed() -> None:
    body = fixture("FileUploadComplete.doc.json")
    key = key_of(body)
    url_part = key.split("|")[3]
    assert re.fullmatch(r"[0-9a-f]{16}", url_part)  # FileUrl is > 64 chars
    piped = key_of({**body, "FileUrl": "a|b", "VideoId": "x\ny"})
    assert piped.count("|") == key.count("|")
    assert key_of({**body, "EventTime": "x" * 500}).split("|")[0] == dedup_module._hash16("x" * 500)
    huge = key_of({**body, "VideoId": "v" * 10_000, "FileUrl": "u" * 10_000})
    assert len(huge) < 200


def test_transcode_stream_order_does_not_matter() -> None:
    body = fixture("TranscodeComplete.real.json")
    flipped = {**body, "StreamInfos": list(reversed(body["StreamInfos"]))}
    assert key_of(body) == key_of(flipped)


def test_unknown_type_hash_ignores_key_order() -> None:
    body = fixture("VodFutureFeatureComplete.unknown.json")
    flipped = dict(reversed(list(body.items())))
    assert key_of(body) == key_of(flipped)
    assert key_of(body).startswith("20260102T030405.000000|VodFutureFeatureComplete|d1b2c3d4")


def test_generic_event_with_documented_type_falls_back_to_body_hash() -> None:
    from receiver.events import GenericEvent

    body = fixture("FileUploadComplete.doc.json")
    generic = GenericEvent.model_validate(body)
    parts = dedup_key(generic).split("|")
    assert len(parts) == 4
    assert re.fullmatch(r"[0-9a-f]{16}", parts[3])


def test_key_is_deterministic_across_processes_shape() -> None:
    # exact value pins the format so a change is a conscious migration of stored keys
    assert key_of(fixture("StreamTranscodeComplete.real.json")) == (
        "20181008T095551.000000|StreamTranscodeComplete|1359cfac2e1c44c5bea27f9958999f84|"
        "05794af1ffee414fa1ea2210720bff09|LD|m3u8|success"
    )
