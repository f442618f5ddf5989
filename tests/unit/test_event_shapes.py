"""The intake fast path (events/shapes.py) must agree with pydantic on every body it takes.

Two promises: a body read_fast accepts always validates, and it gets exactly the dedup key,
media id and event time the typed event gets. Otherwise an event could be keyed
differently by HTTP and MNS, or acknowledged 200 when it should have been refused 400.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.events import EVENT_MODELS, EventParseError, dedup_key, parse_event_bytes
from receiver.events.dedup import _RULES, _STATUS
from receiver.events.shapes import _REJECT, _SHAPES, FAST_TYPES, FastEvent, read_fast
from receiver.sources.delivery import to_delivery

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"


def agree(body: bytes) -> FastEvent | None:
    """Assert the fast reading, if any, matches the typed one; return it."""
    fast = read_fast(body)
    if fast is None:
        return None
    event, _ = parse_event_bytes(body)  # must not raise: fast means "pydantic accepts"
    assert type(event) is EVENT_MODELS[fast.event_type]
    assert dedup_key(fast) == dedup_key(event)
    assert fast.media_id == event.media_id
    assert fast.event_time == event.event_time
    return fast


def test_fast_types_only_use_plain_field_rules() -> None:
    """dedup_key treats a FastEvent like its model; only plain-field rules allow that."""
    for event_type in FAST_TYPES:
        for part in _RULES[event_type]:
            assert part is _STATUS or hasattr(part, "field"), (event_type, part)


def test_nested_and_special_types_take_the_pydantic_path() -> None:
    assert {"TranscodeComplete", "SnapshotComplete", "MediaBaseChangeComplete"}.isdisjoint(
        FAST_TYPES
    )
    assert read_fast(b'{"EventType":"VodFutureFeatureComplete","VideoId":"v"}') is None


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_fixture_agrees(path: Path) -> None:
    agree(path.read_bytes())


def test_the_usual_upload_body_is_fast() -> None:
    body = (FIXTURES / "FileUploadComplete.doc.json").read_bytes()
    fast = agree(body)
    assert fast is not None
    delivery = to_delivery(body, "http", 1.0)
    assert delivery.event is None  # typed later by the dispatcher
    event, _ = parse_event_bytes(body)
    assert delivery.dedup_key == dedup_key(event)
    assert delivery.event_time == event.event_time.astimezone(UTC).isoformat()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        # each is valid VOD input that pydantic must normalise, so the fast path declines it
        {"EventType": "FileUploadComplete", "VideoId": "v", "Size": "123"},
        {"EventType": "FileUploadComplete", "VideoId": "v", "Size": True},
        {"EventType": "FileUploadComplete", "VideoId": 42},
        {"EventType": "FileUploadComplete", "VideoId": "v", "Status ": "success"},
        {"EventType": "FileUploadComplete", "VideoId": "v", "video_id": "w"},
        {"EventType": "FileUploadComplete", "VideoId": "v", "FileUrl": "a", "FileURL": "b"},
        {"EventType": " FileUploadComplete", "VideoId": "v"},
        {"EventType": "VideoAnalysisComplete", "VideoId": "v", "Width": "1920"},
    ],
)
def test_bodies_needing_normalisation_are_declined(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    assert read_fast(raw) is None
    parse_event_bytes(raw)  # still fine on the pydantic path


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"{", b'{"VideoId":"v"}', b"\xef\xbb\xbf{}", b'{"EventType":null}'],
)
def test_bad_or_odd_bodies_are_left_to_pydantic(raw: bytes) -> None:
    assert read_fast(raw) is None


def test_ai_events_prefer_media_id_as_their_model_does() -> None:
    raw = b'{"EventType":"AIMediaAuditComplete","VideoId":"0","MediaId":"1","JobId":"j"}'
    fast = agree(raw)
    assert fast is not None and fast.media_id == "1"


def test_a_body_pydantic_refuses_is_never_fast() -> None:
    raw = b'{"EventType":"FileUploadComplete","VideoId":"v","Size":"lots"}'
    assert read_fast(raw) is None
    with pytest.raises(EventParseError):
        parse_event_bytes(raw)


# -- generated bodies ------------------------------------------------------------------------

_KEYS = [
    "VideoId",
    "MediaId",
    "ImageId",
    "AttachedMediaId",
    "JobId",
    "Status",
    "EventTime",
    "Size",
    "FileUrl",
    "FileURL",
    "Definition",
    "Format",
    "Width",
    "Height",
    "Duration",
    "Bitrate",
    "Fps",
    "Encrypt",
    "Preprocess",
    "StartTime",
    "FinishTime",
    "RecordStartTime",
    "RecordEndTime",
    "StreamName",
    "AuditStatus",
    "CreationTime",
    "ProjectId",
    "DeleteType",
    "JobIds",
    "StorageClass",
    "Scope",
    "MediaRefreshJobId",
    "TaskType",
    "TaskId",
    "WorkflowId",
    "Extend",
    "Data",
    "ErrorCode",
    "ErrorMessage",
    "Unknown",
    "video_id",
    " Size",
    "size",
]
_TIMES = st.sampled_from(
    [
        "2024-05-06T09:49:33Z",
        "2024-04-10T01:37:14:627Z",
        "2024-04-10T01:37:14.627Z",
        "2024-04-10 09:37:14+08:00",
        "2024-13-40T99:00:00Z",
        "yesterday",
        "",
    ]
)
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what orjson can write
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    _INT64,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
    _TIMES,
    st.sampled_from(["success", "Success", "Succeed", "fail", "Failed", " FAIL ", "weird", "a|b"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), _INT64, max_size=2),
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    event_type=st.sampled_from(sorted(FAST_TYPES)),
    fields=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=10),
)
def test_generated_bodies_agree(event_type: str, fields: dict[str, Any]) -> None:
    body = orjson.dumps({"EventType": event_type, **fields})
    try:
        agree(body)
    except EventParseError as exc:  # pragma: no cover - the failure this test hunts
        pytest.fail(f"fast path accepted a body pydantic refuses: {exc.reason}: {body!r}")


@st.composite
def well_typed_bodies(draw: st.DrawFn) -> bytes:
    """Bodies whose every value suits its field, so that most take the fast path."""
    event_type = draw(st.sampled_from(sorted(FAST_TYPES)))
    readers = _SHAPES[event_type].readers
    keys = draw(st.lists(st.sampled_from(sorted(readers)), max_size=8, unique=True))
    body: dict[str, Any] = {"EventType": event_type}
    for key in keys:
        reader = readers[key][1]
        body[key] = draw(_VALUES.filter(lambda v, r=reader: r(v) is not _REJECT))
    if draw(st.booleans()):
        body["EventTime"] = draw(_TIMES)
    if draw(st.booleans()):
        body["Status"] = draw(_VALUES)
    return orjson.dumps(body)


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(body=well_typed_bodies())
def test_well_typed_bodies_agree(body: bytes) -> None:
    try:
        agree(body)
    except EventParseError as exc:  # pragma: no cover - the failure this test hunts
        pytest.fail(f"fast path accepted a body pydantic refuses: {exc.reason}: {body!r}")
