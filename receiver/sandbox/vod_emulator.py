"""Loopback emulator of the ApsaraVideo VOD OpenAPI (2017-03-21) and of VOD's event delivery.

Why it exists: the cloud is unreachable from development machines and CI, yet vodhook's handlers
call VOD through the unmodified Tea SDK (``alibabacloud-vod20170321``) and its receiver must be fed
events signed the way VOD signs them. So this emulator speaks the real wire protocol instead of
being a mock: it verifies ACS3-HMAC-SHA256 (and V2 HMAC-SHA1) signatures, date freshness, nonce
replay and STS tokens; it answers with the JSON shapes the SDK *models* expect (a mismatch makes the
SDK silently return an empty body); it returns errors as ``{"RequestId","HostId","Code","Message"}``
with the documented HTTP status; and it delivers events over HTTP (MD5-signed, 3 attempts) or into
an MNS queue through the unmodified ``mns`` SDK, on a background thread, in order.

Point the SDK at it with::

    Config(access_key_id=emu.access_key_id, access_key_secret=emu.access_key_secret,
           endpoint=emu.host_port, protocol="http")      # or Config(**emu.sdk_config_kwargs())

Emulated actions: GetPlayInfo, GetVideoInfo, GetVideoInfos, UpdateVideoInfo, GetMezzanineInfo,
SubmitWorkflowJob, SubmitTranscodeJobs, SubmitSnapshotJob, SubmitAIJob, SubmitAIMediaAuditJob,
GetAIMediaAuditJob, CreateAudit, DeleteVideo, ListSnapshots, SetMessageCallback,
GetMessageCallback, DeleteMessageCallback, CreateUploadVideo. Any other action gets
``404 InvalidAction.NotFound``.

Test hooks: ``add_video`` / ``update_video`` / ``video`` seed and inspect the media library;
``upload`` creates a video and emits FileUploadComplete, one StreamTranscodeComplete per
definition x format, TranscodeComplete and SnapshotComplete; ``set_callback`` configures delivery;
``emitted`` / ``wait_emitted`` / ``dropped_events`` / ``delivery_log`` observe it; ``faults.add``
injects throttling, server errors, latency and timeouts; ``latency`` delays every API call;
``request_log`` / ``calls`` record every API request, rejected ones included.

Control endpoints: the same server answers a few unsigned JSON endpoints outside the OpenAPI, so
that another process (``vodhook sandbox upload``) can drive a running emulator. They have no
authentication: keep the emulator on 127.0.0.1.

==========  =====================  ================================================================
method      path                   body -> answer
==========  =====================  ================================================================
GET         /_sandbox/health       -> {"ok": true, "endpoint": "http://127.0.0.1:PORT"}
POST        /_sandbox/upload       {"title", "file_name", "app_id", "definitions": [..],
                                   "formats": [..], "extend", "duration", "video_id", "wait"}
                                   (all optional; "video_id" completes a CreateUploadVideo video,
                                   "wait": true returns after the events went out)
                                   -> {"VideoId": "..."}
POST        /_sandbox/callback     {"callback_url", "auth_key", "callback_type", "event_types",
                                   "auth_switch", "mns_endpoint", "mns_queue_name", "app_id"}
                                   -> {"ok": true}
GET         /_sandbox/events       -> {"Emitted": [{"EventType", "Outcome", "Payload"}]}
GET         /_sandbox/requests     -> {"Requests": [{"Action", "Status", "Code", ...}]}
POST        /_sandbox/faults       {"kind", "action", "times", "probability", "delay",
                                   "retry_after_ms", "status", "code", "drop"} -> {"ok": true}
DELETE      /_sandbox/faults       -> {"ok": true}  (removes every fault)
POST        /_sandbox/config       {"latency", "retry_spacing", "next_audit_suggestion",
                                   "enforce_qps"} -> {"ok": true}
==========  =====================  ================================================================

``trigger_upload(endpoint, title=...)`` is the client side of ``POST /_sandbox/upload``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import http.client
import json
import logging
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.request
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import IO, Any, ClassVar, Literal, NamedTuple, cast
from urllib.parse import parse_qsl, quote, urlsplit

from receiver.sandbox.faults import Rule, RuleList, check_budget

__all__ = [
    "DEFAULT_APP_ID",
    "DOCUMENTED_QPS",
    "ApiError",
    "CallbackConfig",
    "DeliveryAttempt",
    "EmittedEvent",
    "Fault",
    "FaultInjector",
    "PlayStream",
    "RequestRecord",
    "Video",
    "VodEmulator",
    "serve_forever_cli",
    "trigger_upload",
]

log = logging.getLogger("receiver.sandbox.vod")

API_VERSION = "2017-03-21"
DEFAULT_APP_ID = "app-1000000"
DEFAULT_HOST_ID = "vod.cn-shanghai.aliyuncs.com"
REGION_ID = "cn-shanghai"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

#: Per-account QPS limits from the API reference (seed 004, lines 770-1330). Enforced only when
#: ``VodEmulator.enforce_qps`` is true, so the default emulator never throttles on its own.
DOCUMENTED_QPS: dict[str, int] = {
    "GetPlayInfo": 360,
    "GetVideoInfo": 100,
    "GetVideoInfos": 100,
    "UpdateVideoInfo": 100,
    "GetMezzanineInfo": 100,
    "SubmitWorkflowJob": 20,
    "SubmitTranscodeJobs": 30,
    "SubmitSnapshotJob": 30,
    "SubmitAIJob": 30,
    "SubmitAIMediaAuditJob": 15,
    "GetAIMediaAuditJob": 20,
    "CreateAudit": 100,
    "DeleteVideo": 30,
    "ListSnapshots": 30,
    "SetMessageCallback": 15,
    "GetMessageCallback": 10,
    "CreateUploadVideo": 120,
}

THROTTLING_MESSAGE = "Request was denied due to request throttling."

# (width, height, video bitrate kbps) per definition; close to VOD's default templates.
_DEFINITION_PRESETS: dict[str, tuple[int, int, int]] = {
    "FD": (640, 360, 421),
    "LD": (960, 540, 760),
    "SD": (1280, 720, 1110),
    "HD": (1920, 1080, 2210),
    "OD": (1920, 1080, 2800),
    "2K": (2560, 1440, 4100),
    "4K": (3840, 2160, 8200),
    "AUTO": (1280, 720, 1500),
    "SQ": (0, 0, 128),
    "HQ": (0, 0, 256),
}
_AUDIO_FORMATS = frozenset({"mp3", "m4a", "aac"})
_VIDEO_STATUSES = frozenset(
    {
        "Uploading",
        "UploadFail",
        "UploadSucc",
        "Transcoding",
        "TranscodeFail",
        "Checking",
        "Blocked",
        "Normal",
        "ProduceFail",
    }
)
_UPLOAD_EXTENSIONS = frozenset(
    {
        "3gp",
        "asf",
        "avi",
        "dat",
        "dv",
        "flv",
        "f4v",
        "gif",
        "m2t",
        "m4v",
        "mj2",
        "mjpeg",
        "mkv",
        "mov",
        "mp4",
        "mpe",
        "mpg",
        "mpeg",
        "mts",
        "ogg",
        "qt",
        "rm",
        "rmvb",
        "swf",
        "ts",
        "vob",
        "webm",
        "wmv",
        "mxf",
        "m3u8",
        "aac",
        "ac3",
        "acm",
        "amr",
        "ape",
        "caf",
        "flac",
        "m4a",
        "mp3",
        "ra",
        "wav",
        "wma",
    }
)
_SNAPSHOT_TYPES = frozenset(
    {"CoverSnapshot", "NormalSnapshot", "SpriteSnapshot", "SpriteOriginSnapshot", "WebVttSnapshot"}
)
_AI_JOB_EVENTS: dict[str, str] = {
    "AIMediaDNA": "AIMediaDNAComplete",
    "AIVideoTag": "AIVideoTagComplete",
}
# V2 (RPC signature 1.0) protocol parameters; never passed to the action handlers.
_V2_PROTOCOL_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureType",
        "AccessKeyId",
        "Signature",
        "SecurityToken",
        "RegionId",
    }
)
_V3_REQUIRED_SIGNED = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)

JsonDict = dict[str, Any]
Outcome = Literal["delivered", "dropped", "filtered", "no_callback"]
FaultKind = Literal["throttle", "server_error", "latency", "timeout"]


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _utc_now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def _new_id() -> str:
    """32 lowercase hex characters, the shape of VOD video and job IDs."""
    return uuid.uuid4().hex


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _pct(value: str) -> str:
    """RFC 3986 encoding used by both signature versions (space -> %20, ``~`` kept)."""
    return quote(value, safe="-_.~", encoding="utf-8")


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _vod_signature(url: str, timestamp: str, auth_key: str) -> str:
    """X-VOD-SIGNATURE: lowercase hex MD5 of ``url|timestamp|key`` (body not included)."""
    return hashlib.md5(f"{url}|{timestamp}|{auth_key}".encode()).hexdigest()


class ApiError(Exception):
    """An OpenAPI error answer: HTTP status plus the ``Code``/``Message`` of the JSON body."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


def _missing(name: str) -> ApiError:
    return ApiError(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def _invalid(name: str) -> ApiError:
    return ApiError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid.')


def _video_not_found() -> ApiError:
    return ApiError(404, "InvalidVideo.NotFound", "The video does not exist.")


def _require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise _missing(name)
    return value


def _int_param(
    params: Mapping[str, str],
    name: str,
    default: int,
    low: int | None = None,
    high: int | None = None,
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise _invalid(name)
    return value


def _length_exceeded(name: str, limit: int) -> ApiError:
    return ApiError(
        400, "LengthExceededMax", f"The specified {name} length has exceeded {limit} bytes."
    )


def _check_tags(tags: str) -> None:
    items = _csv(tags)
    if len(items) > 16:
        raise ApiError(400, "TagsExceededMax", "The specified Tags count has exceeded 16.")
    for item in items:
        if len(item.encode()) > 32:
            raise _length_exceeded("Tags", 32)


def _parse_user_data(raw: str | None) -> tuple[str | None, str | None]:
    """UserData JSON -> (MessageCallback.CallbackURL override, Extend as the string VOD echoes)."""
    if not raw:
        return None, None
    try:
        data = json.loads(raw)
    except ValueError:
        raise _invalid("UserData") from None
    if not isinstance(data, dict):
        raise _invalid("UserData")
    override: str | None = None
    callback = data.get("MessageCallback")
    if isinstance(callback, dict) and isinstance(callback.get("CallbackURL"), str):
        override = callback["CallbackURL"]
    extend = data.get("Extend")
    if extend is None:
        return override, None
    return override, extend if isinstance(extend, str) else json.dumps(extend, ensure_ascii=False)


def _extend_str(extend: str | Mapping[str, Any] | None) -> str | None:
    if extend is None or isinstance(extend, str):
        return extend
    return json.dumps(dict(extend), ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# data model
# --------------------------------------------------------------------------------------------


@dataclass
class PlayStream:
    """One transcoded output (definition x format) of a video."""

    definition: str
    format: str
    job_id: str
    width: int
    height: int
    bitrate: str
    fps: str
    size: int
    duration: float
    file_path: str
    creation_time: str
    status: str = "Normal"
    stream_type: str = "video"
    encrypt: int = 0
    encrypt_type: str | None = None
    codec_name: str = "h264"


@dataclass
class SnapshotSet:
    """The result of one snapshot job; URLs are ``regular`` with ``{SnapshotCount}`` filled in."""

    job_id: str
    snapshot_type: str
    regular: str
    fmt: str
    count: int
    creation_time: str

    def urls(self) -> list[str]:
        return [
            self.regular.replace("{SnapshotCount}", f"{i:05d}") for i in range(1, self.count + 1)
        ]


@dataclass
class Video:
    """A media-library entry: what GetVideoInfo, GetPlayInfo and friends report."""

    video_id: str
    title: str
    app_id: str = DEFAULT_APP_ID
    description: str = ""
    tags: str = ""
    cover_url: str = ""
    cate_id: int | None = None
    cate_name: str = ""
    status: str = "Normal"
    duration: float = 60.0
    size: int = 21_000_000
    width: int = 1920
    height: int = 1080
    fps: str = "25"
    bitrate: str = "2800"
    storage_class: str = "Standard"
    creation_time: str = field(default_factory=_utc_now)
    modification_time: str = field(default_factory=_utc_now)
    user_set_cover: bool = False
    audit_status: str = "Init"
    file_name: str = ""
    has_mezzanine: bool = True
    template_group_id: str = ""
    user_data: str | None = None
    callback_url: str | None = None
    extend: str | None = None
    streams: list[PlayStream] = field(default_factory=list)
    snapshot_sets: dict[str, SnapshotSet] = field(default_factory=dict)

    @property
    def snapshots(self) -> list[str]:
        cover = self.snapshot_sets.get("CoverSnapshot")
        return cover.urls() if cover else []


@dataclass
class CallbackConfig:
    """SetMessageCallback state for one AppId."""

    app_id: str = DEFAULT_APP_ID
    callback_type: str = "HTTP"
    callback_url: str | None = None
    event_type_list: str = "ALL"
    auth_switch: str = "off"
    auth_key: str | None = None
    mns_endpoint: str | None = None
    mns_queue_name: str | None = None

    def wants(self, event_type: str) -> bool:
        """EventTypeList filter: empty = none, ``ALL`` = all, ``AIComplete`` = every AI* event."""
        tokens = {token.lower() for token in _csv(self.event_type_list)}
        if "all" in tokens or event_type.lower() in tokens:
            return True
        return event_type.startswith("AI") and "aicomplete" in tokens

    def to_api(self) -> JsonDict:
        out: JsonDict = {
            "AppId": self.app_id,
            "CallbackType": self.callback_type,
            "EventTypeList": self.event_type_list,
            "AuthSwitch": self.auth_switch,
        }
        for key, value in (
            ("CallbackURL", self.callback_url),
            ("AuthKey", self.auth_key),
            ("MnsEndpoint", self.mns_endpoint),
            ("MnsQueueName", self.mns_queue_name),
        ):
            if value:
                out[key] = value
        return out


@dataclass
class _AuditJob:
    job_id: str
    media_id: str
    suggestion: str
    creation_time: str
    status: str = "processing"
    complete_time: str | None = None


class RequestRecord(NamedTuple):
    """One OpenAPI request as the emulator saw it (rejected requests included)."""

    mono: float  # time.monotonic() on arrival, for rate measurements
    wall: float  # time.time() on arrival
    action: str | None
    params: dict[str, str]  # API parameters, without V2 protocol parameters
    status: int | None  # HTTP status sent; None when a timeout fault dropped the connection
    code: str | None  # error Code, None on success
    request_id: str
    signature: str | None  # "v3", "v2" or None when the request never authenticated
    fault: str | None  # kind of the injected fault that applied, if any
    elapsed: float  # seconds spent answering (configured latency included)


class EmittedEvent(NamedTuple):
    """An event after the emitter handled it. ``outcome`` says what became of it."""

    event_type: str
    payload: JsonDict
    outcome: Outcome


class DeliveryAttempt(NamedTuple):
    """One HTTP POST or MNS SendMessage attempt."""

    event_type: str
    target: str
    attempt: int
    ok: bool
    status: int | None  # HTTP status, None for MNS or a transport error
    error: str | None
    wall: float


@dataclass
class _Emission:
    payload: JsonDict
    app_id: str
    override_url: str | None = None
    apply: Callable[[], None] | None = None


# --------------------------------------------------------------------------------------------
# fault injection
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Fault(Rule):
    """One injected fault. ``times`` counts down; ``hits`` counts how often it applied."""

    kind: FaultKind
    action: str | None = None
    delay: float = 0.05
    retry_after_ms: int | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    drop: bool = False

    @property
    def hits(self) -> int:
        return self.fired

    def error(self) -> ApiError | None:
        """The error this fault answers with, or None for latency/timeout faults."""
        headers: dict[str, str] = {}
        if self.retry_after_ms is not None:
            headers["x-acs-retry-after"] = str(self.retry_after_ms)
        if self.kind == "throttle":
            return ApiError(
                self.status or 503,
                self.code or "Throttling",
                self.message or THROTTLING_MESSAGE,
                headers,
            )
        if self.kind == "server_error":
            status = self.status or 500
            if status == 503:
                code = self.code or "ServiceUnAvailable"
                message = "The request has failed due to a temporary failure of the server."
            else:
                code = self.code or "InternalError"
                message = "The request processing has failed due to some unknown error."
            return ApiError(status, code, self.message or message, headers)
        return None


class FaultInjector:
    """Thread-safe fault list; settable while the emulator runs. First matching fault wins."""

    _DEFAULT_DELAY: ClassVar[dict[str, float]] = {
        "throttle": 0.0,
        "server_error": 0.0,
        "latency": 0.05,
        "timeout": 30.0,
    }

    def __init__(self, seed: int | None = None) -> None:
        self._faults: RuleList[Fault] = RuleList(seed)

    def add(
        self,
        action: str | None = None,
        kind: FaultKind = "throttle",
        times: int | None = None,
        probability: float | None = None,
        delay: float | None = None,
        retry_after_ms: int | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        drop: bool = False,
    ) -> Fault:
        """Inject a fault for ``action`` (None = every action).

        throttle: 503 ``Throttling`` (``x-acs-retry-after`` header when ``retry_after_ms``);
        server_error: 500 ``InternalError``, or 503 ``ServiceUnAvailable`` with ``status=503``;
        latency: wait ``delay`` then answer normally; timeout: hold the answer ``delay`` seconds
        (default 30, beyond the SDK's 10 s read timeout), then answer or, with ``drop``, close the
        connection. ``times`` limits how often it applies, ``probability`` makes it random;
        with neither it applies to every matching call until removed.
        """
        if kind not in self._DEFAULT_DELAY:
            raise ValueError(f"unknown fault kind {kind!r}")
        check_budget(times, probability)
        fault = Fault(
            kind=kind,
            action=action,
            times=times,
            probability=probability,
            delay=self._DEFAULT_DELAY[kind] if delay is None else delay,
            retry_after_ms=retry_after_ms,
            status=status,
            code=code,
            message=message,
            drop=drop,
        )
        return self._faults.append(fault)

    def remove(self, fault: Fault) -> None:
        self._faults.remove(fault)

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[Fault]:
        return self._faults.snapshot()

    def match(self, action: str) -> Fault | None:
        """Pick the fault for this call and consume one of its ``times``."""
        return self._faults.take(lambda f: f.action is None or f.action == action)


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default of 5 caused 1 s SYN-retry stalls with 20 concurrent async calls.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: VodEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client hang-ups (timeouts, dropped connections) are expected here; stay quiet."""
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VodSandbox/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write; without NODELAY Nagle + delayed ACK cost ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the request log records everything."""

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        emulator = cast(_Server, self.server).emulator
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        split = urlsplit(self.path)
        if split.path.startswith("/_sandbox/"):
            reply = emulator._control(self.command, split.path, body)
        else:
            reply = emulator._serve_api(
                self.command, split.path or "/", split.query, list(self.headers.items()), body
            )
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(reply)

    def _write(self, reply: _Reply) -> None:
        reason = http.client.responses.get(reply.status, "Unknown")
        lines = [
            f"HTTP/1.1 {reply.status} {reason}",
            "Content-Type: application/json;charset=utf-8",
            f"Content-Length: {len(reply.body)}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.server_version}",
        ]
        lines += [f"{name}: {value}" for name, value in reply.headers.items()]
        lines.append("Connection: close" if self.close_connection else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + reply.body)  # one write: see setup()
        except OSError:
            self.close_connection = True


# --------------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------------


class VodEmulator:
    """In-memory VOD OpenAPI + event source on a loopback ThreadingHTTPServer."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str = "sandbox-ak",
        access_key_secret: str = "sandbox-secret",
        security_token: str | None = None,
        retry_spacing: float = 1.0,
        *,
        latency: float = 0.0,
        mns_access_key_id: str | None = None,
        mns_access_key_secret: str | None = None,
        mns_base64: bool = True,
        delivery_timeout: float = 5.0,
        clock_skew: float = 900.0,
        host_id: str = DEFAULT_HOST_ID,
        play_domain: str = "vod-sandbox.example.com",
        oss_host: str = "outin-5a4a3b4d17f2d3f7c5e.oss-cn-shanghai.aliyuncs.com",
        fault_seed: int | None = None,
        request_log_size: int = 100_000,
    ) -> None:
        self._host = host
        self._requested_port = port
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self._credentials: dict[str, tuple[str, str | None]] = {
            access_key_id: (access_key_secret, security_token)
        }
        #: seconds between HTTP/MNS delivery attempts (VOD: 1 s); tests set e.g. 0.05
        self.retry_spacing = retry_spacing
        #: extra attempts after the first failed one (VOD: 2, so 3 in all)
        self.delivery_retries = 2
        self.delivery_timeout = delivery_timeout
        #: seconds every API call waits before it is answered (benchmarks)
        self.latency = latency
        self.clock_skew = clock_skew
        self.host_id = host_id
        self.play_domain = play_domain
        self.oss_host = oss_host
        self.mns_access_key_id = mns_access_key_id or access_key_id
        self.mns_access_key_secret = mns_access_key_secret or access_key_secret
        #: MNS message bodies base64-encoded like the SDK's default; False sends raw JSON
        self.mns_base64 = mns_base64
        #: one-shot AI-audit suggestion (pass|review|block) for the next SubmitAIMediaAuditJob
        self.next_audit_suggestion: str | None = None
        self.default_audit_suggestion = "pass"
        #: throttle actions above their DOCUMENTED_QPS (503 Throttling), off by default
        self.enforce_qps = False
        self.qps_limits: dict[str, int] = dict(DOCUMENTED_QPS)
        #: emit MediaBaseChangeComplete on CreateUploadVideo/UpdateVideoInfo/DeleteVideo
        self.emit_media_base_change = False
        #: definitions x formats a SubmitTranscodeJobs template group produces
        self.template_groups: dict[str, list[tuple[str, str]]] = {"VOD_NO_TRANSCODE": []}
        self.default_transcode: list[tuple[str, str]] = [
            ("LD", "mp4"),
            ("SD", "mp4"),
            ("HD", "mp4"),
        ]
        self.faults = FaultInjector(fault_seed)

        self._lock = threading.RLock()
        self._videos: dict[str, Video] = {}
        self._callbacks: dict[str, CallbackConfig] = {}
        self._audit_jobs: dict[str, _AuditJob] = {}
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._qps_windows: dict[str, deque[float]] = {}

        self._log_lock = threading.Lock()
        self._request_log: deque[RequestRecord] = deque(maxlen=request_log_size)

        self._emit_cond = threading.Condition()
        self._emit_queue: deque[_Emission | None] = deque()
        self._pending = 0
        self._emitted: list[EmittedEvent] = []
        self._dropped: list[EmittedEvent] = []
        self._deliveries: list[DeliveryAttempt] = []
        self._mns_queues: dict[tuple[str, str], Any] = {}

        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._emit_thread: threading.Thread | None = None

        self._actions: dict[str, Callable[[dict[str, str]], JsonDict]] = {
            "GetPlayInfo": self._get_play_info,
            "GetVideoInfo": self._get_video_info,
            "GetVideoInfos": self._get_video_infos,
            "UpdateVideoInfo": self._update_video_info,
            "GetMezzanineInfo": self._get_mezzanine_info,
            "SubmitWorkflowJob": self._submit_workflow_job,
            "SubmitTranscodeJobs": self._submit_transcode_jobs,
            "SubmitSnapshotJob": self._submit_snapshot_job,
            "SubmitAIJob": self._submit_ai_job,
            "SubmitAIMediaAuditJob": self._submit_ai_media_audit_job,
            "GetAIMediaAuditJob": self._get_ai_media_audit_job,
            "CreateAudit": self._create_audit,
            "DeleteVideo": self._delete_video,
            "ListSnapshots": self._list_snapshots,
            "SetMessageCallback": self._set_message_callback,
            "GetMessageCallback": self._get_message_callback,
            "DeleteMessageCallback": self._delete_message_callback,
            "CreateUploadVideo": self._create_upload_video,
        }

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> VodEmulator:
        """Bind, serve on a daemon thread, start the event emitter; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        with self._emit_cond:  # a previous stop() may have left its sentinel behind
            self._emit_queue = deque(item for item in self._emit_queue if item is not None)
        self._server = _Server((self._host, self._requested_port), self)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="vod-emulator-http",
            daemon=True,
        )
        self._serve_thread.start()
        self._emit_thread = threading.Thread(
            target=self._emit_loop, name="vod-emulator-emitter", daemon=True
        )
        self._emit_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and emitting; sleeping handlers and retry waits wake up at once."""
        self._stopping.set()
        with self._emit_cond:
            self._emit_queue.append(None)
            self._emit_cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)
        if self._emit_thread is not None:
            self._emit_thread.join(timeout=5)
        self._server = None
        self._serve_thread = None
        self._emit_thread = None

    def __enter__(self) -> VodEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``: what the Tea SDK's ``Config.endpoint`` wants."""
        return f"{self._host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (VODHOOK_VOD_ENDPOINT form)."""
        return f"http://{self.host_port}"

    def sdk_config_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``alibabacloud_tea_openapi.models.Config`` (explicit AK)."""
        kwargs = {
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "endpoint": self.host_port,
            "protocol": "http",
        }
        if self.security_token:
            kwargs["security_token"] = self.security_token
        return kwargs

    def add_credential(
        self, access_key_id: str, access_key_secret: str, security_token: str | None = None
    ) -> None:
        """Accept another AccessKey (with an STS token, it must come with that token)."""
        with self._lock:
            self._credentials[access_key_id] = (access_key_secret, security_token)

    # ---- media library ---------------------------------------------------------------------

    def add_video(
        self,
        video_id: str | None = None,
        title: str = "Sandbox video",
        *,
        status: str = "Normal",
        definitions: Sequence[str] = ("LD", "SD", "HD"),
        formats: Sequence[str] = ("mp4",),
        duration: float = 60.0,
        snapshot_count: int = 3,
        app_id: str = DEFAULT_APP_ID,
        cover_url: str | None = None,
        **fields: Any,
    ) -> str:
        """Seed a video (default: Normal, playable LD/SD/HD mp4, 3 cover snapshots)."""
        if status not in _VIDEO_STATUSES:
            raise ValueError(f"unknown video status {status!r}")
        vid = video_id or _new_id()
        video = Video(
            video_id=vid,
            title=title,
            app_id=app_id,
            status=status,
            duration=duration,
            file_name=fields.pop("file_name", f"{title}.mp4"),
            **fields,
        )
        now = _utc_now()
        for definition in definitions:
            for fmt in formats:
                video.streams.append(self._make_stream(video, definition, fmt, now))
        if snapshot_count > 0:
            snaps = self._make_snapshot_set(video, "CoverSnapshot", snapshot_count, now)
            video.snapshot_sets["CoverSnapshot"] = snaps
            video.cover_url = snaps.urls()[(snapshot_count - 1) // 2]
        if cover_url:
            video.cover_url = cover_url
            video.user_set_cover = True
        with self._lock:
            self._videos[vid] = video
        return vid

    def video(self, video_id: str) -> Video:
        """A copy of the library entry (KeyError if absent)."""
        with self._lock:
            return copy.deepcopy(self._videos[video_id])

    def video_ids(self) -> list[str]:
        with self._lock:
            return list(self._videos)

    def update_video(self, video_id: str, **changes: Any) -> None:
        """Change fields of a library entry, e.g. ``status="Blocked"``."""
        with self._lock:
            video = self._videos[video_id]
            for key, value in changes.items():
                if not hasattr(video, key):
                    raise AttributeError(key)
                setattr(video, key, value)

    def remove_video(self, video_id: str) -> None:
        with self._lock:
            self._videos.pop(video_id, None)

    def _make_stream(self, video: Video, definition: str, fmt: str, now: str) -> PlayStream:
        width, height, kbps = _DEFINITION_PRESETS.get(definition, (1280, 720, 1500))
        audio = fmt in _AUDIO_FORMATS
        if audio:
            width, height, kbps = 0, 0, 128
        job_id = _new_id()
        return PlayStream(
            definition=definition,
            format=fmt,
            job_id=job_id,
            width=width,
            height=height,
            bitrate=str(kbps),
            fps="" if audio else video.fps,
            size=int(kbps * 1000 / 8 * video.duration),
            duration=video.duration,
            file_path=f"/{video.video_id}/{job_id[:8]}-{definition.lower()}.{fmt}",
            creation_time=now,
            stream_type="audio" if audio else "video",
            codec_name="aac" if audio else "h264",
        )

    def _make_snapshot_set(
        self, video: Video, snapshot_type: str, count: int, now: str
    ) -> SnapshotSet:
        job_id = _new_id()
        folder = {"CoverSnapshot": "snapshots", "NormalSnapshot": "snapshots/normal"}.get(
            snapshot_type, "snapshots/sprite"
        )
        fmt = f"{video.video_id}/{folder}/{job_id[:8].upper()}-{{SnapshotCount}}.jpg"
        return SnapshotSet(
            job_id=job_id,
            snapshot_type=snapshot_type,
            regular=f"http://{self.play_domain}/{fmt}",
            fmt=fmt,
            count=count,
            creation_time=now,
        )

    def _source_url(self, video: Video) -> str:
        ext = video.file_name.rsplit(".", 1)[-1].lower() if "." in video.file_name else "mp4"
        return f"http://{self.oss_host}/sv/{video.video_id[:8]}/{video.video_id}.{ext}"

    def _signed_url(self, path: str, output_type: str, ttl: int) -> str:
        expires = int(time.time()) + ttl
        if output_type == "oss":
            digest = hashlib.sha1(f"{path}{expires}".encode()).digest()
            sig = quote(base64.b64encode(digest).decode(), safe="")
            return (
                f"http://{self.oss_host}{path}?Expires={expires}"
                f"&OSSAccessKeyId=sandbox&Signature={sig}"
            )
        digest_hex = hashlib.md5(f"{path}-{expires}-0-0-sandbox".encode()).hexdigest()
        return f"http://{self.play_domain}{path}?auth_key={expires}-0-0-{digest_hex}"

    def _get(self, video_id: str) -> Video:
        video = self._videos.get(video_id)
        if video is None:
            raise _video_not_found()
        return video

    # ---- callbacks and events --------------------------------------------------------------

    def set_callback(
        self,
        callback_url: str | None = None,
        auth_key: str | None = None,
        *,
        app_id: str = DEFAULT_APP_ID,
        callback_type: str = "HTTP",
        event_types: str = "ALL",
        auth_switch: str | None = None,
        mns_endpoint: str | None = None,
        mns_queue_name: str | None = None,
    ) -> CallbackConfig:
        """Configure delivery for an AppId directly (same effect as SetMessageCallback)."""
        config = CallbackConfig(
            app_id=app_id,
            callback_type=callback_type.upper(),
            callback_url=callback_url,
            event_type_list=event_types,
            auth_switch=auth_switch or ("on" if auth_key else "off"),
            auth_key=auth_key,
            mns_endpoint=mns_endpoint,
            mns_queue_name=mns_queue_name,
        )
        with self._lock:
            self._callbacks[app_id] = config
        return copy.copy(config)

    def callback_config(self, app_id: str = DEFAULT_APP_ID) -> CallbackConfig | None:
        with self._lock:
            config = self._callbacks.get(app_id)
            return copy.copy(config) if config else None

    def clear_callback(self, app_id: str = DEFAULT_APP_ID) -> None:
        with self._lock:
            self._callbacks.pop(app_id, None)

    def emit_event(
        self,
        payload: Mapping[str, Any],
        app_id: str = DEFAULT_APP_ID,
        callback_url: str | None = None,
    ) -> None:
        """Send an arbitrary event through the configured channel (EventTime filled if absent)."""
        self._enqueue(_Emission(dict(payload), app_id, callback_url))

    def upload(
        self,
        title: str = "Sandbox upload",
        file_name: str | None = None,
        app_id: str = DEFAULT_APP_ID,
        definitions: Sequence[str] = ("LD", "SD", "HD"),
        formats: Sequence[str] = ("mp4",),
        extend: str | Mapping[str, Any] | None = None,
        *,
        duration: float = 60.0,
        size: int | None = None,
        snapshot_count: int = 3,
        cover_url: str | None = None,
        callback_url: str | None = None,
        description: str = "",
        tags: str = "",
        cate_id: int | None = None,
    ) -> str:
        """Create a video and emit its upload/transcode/snapshot events; returns the VideoId.

        Order: FileUploadComplete, StreamTranscodeComplete per definition x format,
        TranscodeComplete, SnapshotComplete. The library changes as each event goes out, so a
        receiver that calls GetPlayInfo on StreamTranscodeComplete finds the stream.
        """
        video = Video(
            video_id=_new_id(),
            title=title,
            app_id=app_id,
            description=description,
            tags=tags,
            cate_id=cate_id,
            status="Uploading",
            duration=duration,
            file_name=file_name or f"{title}.mp4",
            extend=_extend_str(extend),
            callback_url=callback_url,
        )
        video.size = size if size is not None else int(2800 * 1000 / 8 * duration)
        if cover_url:
            video.cover_url = cover_url
            video.user_set_cover = True
        with self._lock:
            self._videos[video.video_id] = video
        self.complete_upload(video.video_id, definitions, formats, snapshot_count=snapshot_count)
        return video.video_id

    def complete_upload(
        self,
        video_id: str,
        definitions: Sequence[str] = ("LD", "SD", "HD"),
        formats: Sequence[str] = ("mp4",),
        *,
        snapshot_count: int = 3,
    ) -> None:
        """Finish the upload of an existing video (e.g. one made by CreateUploadVideo)."""
        with self._lock:
            video = self._get(video_id)
            vid, app_id = video.video_id, video.app_id
            override, extend = video.callback_url, video.extend
            source_url = self._source_url(video)
            size = video.size
            now = _utc_now()
            pairs = [(d, f) for d in definitions for f in formats]
            if not pairs:  # "no transcode" template: the source plays as the OD stream
                ext = source_url.rsplit(".", 1)[-1]
                pairs_streams = [self._make_stream(video, "OD", ext, now)]
            else:
                pairs_streams = [self._make_stream(video, d, f, now) for d, f in pairs]
            snaps = (
                self._make_snapshot_set(video, "CoverSnapshot", snapshot_count, now)
                if snapshot_count > 0 and pairs
                else None
            )

        def uploaded() -> None:
            with self._lock:
                v = self._videos.get(vid)
                if v is not None:
                    v.status = "Transcoding" if pairs else "Normal"
                    v.has_mezzanine = True
                    v.modification_time = _utc_now()
                    if not pairs:
                        v.streams.extend(pairs_streams)

        upload_event: JsonDict = {
            "EventType": "FileUploadComplete",
            "VideoId": vid,
            "Status": "success",
            "Size": size,
            "FileUrl": source_url,
        }
        self._enqueue(
            _Emission(self._with_extend(upload_event, extend), app_id, override, uploaded)
        )
        if not pairs:
            return

        def transcoded() -> None:
            with self._lock:
                v = self._videos.get(vid)
                if v is not None and v.status in ("Transcoding", "UploadSucc", "Normal"):
                    v.status = "Normal"

        self._emit_transcode(vid, pairs_streams, now, app_id, override, extend, transcoded)
        if snaps is not None:
            self._enqueue(self._snapshot_emission(vid, app_id, snaps, override, extend, None))

    def _emit_transcode(
        self,
        vid: str,
        streams: Sequence[PlayStream],
        now: str,
        app_id: str,
        override: str | None,
        extend: Any,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """VOD's order: one StreamTranscodeComplete per stream, then TranscodeComplete."""
        infos: list[JsonDict] = []
        for stream in streams:
            info = self._stream_info(stream, now)
            infos.append(info)
            event: JsonDict = {"EventType": "StreamTranscodeComplete", "VideoId": vid, **info}
            self._enqueue(
                _Emission(
                    self._with_extend(event, extend),
                    app_id,
                    override,
                    self._stream_applier(vid, stream),
                )
            )
        done: JsonDict = {
            "EventType": "TranscodeComplete",
            "VideoId": vid,
            "Status": "success",
            "StreamInfos": infos,
        }
        self._enqueue(_Emission(self._with_extend(done, extend), app_id, override, on_done))

    def _stream_applier(self, video_id: str, stream: PlayStream) -> Callable[[], None]:
        def apply() -> None:
            with self._lock:
                v = self._videos.get(video_id)
                if v is None:
                    return
                v.streams = [
                    s
                    for s in v.streams
                    if (s.definition, s.format) != (stream.definition, stream.format)
                ]
                v.streams.append(stream)
                if v.status in ("Transcoding", "UploadSucc", "TranscodeFail"):
                    v.status = "Normal"  # a definition plays as soon as one format of it is done
                v.modification_time = _utc_now()

        return apply

    def _stream_info(self, stream: PlayStream, started: str) -> JsonDict:
        return {
            "Status": "success",
            "JobId": stream.job_id,
            "Definition": stream.definition,
            "Format": stream.format,
            "Bitrate": stream.bitrate,
            "Fps": stream.fps,
            "Width": stream.width,
            "Height": stream.height,
            "Size": stream.size,
            "Duration": stream.duration,
            "Encrypt": bool(stream.encrypt),
            "IsAudio": stream.stream_type == "audio",
            "FileUrl": f"http://{self.oss_host}{stream.file_path}",
            "StartTime": started,
            "FinishTime": _utc_now(),
        }

    def _snapshot_emission(
        self,
        video_id: str,
        app_id: str,
        snaps: SnapshotSet,
        override: str | None,
        extend: str | None,
        sub_type: str | None,
    ) -> _Emission:
        def apply() -> None:
            with self._lock:
                v = self._videos.get(video_id)
                if v is None:
                    return
                v.snapshot_sets[snaps.snapshot_type] = snaps
                if snaps.snapshot_type == "CoverSnapshot" and not v.user_set_cover:
                    v.cover_url = snaps.urls()[(snaps.count - 1) // 2]

        urls = snaps.urls()
        with self._lock:
            v = self._videos.get(video_id)
            cover = v.cover_url if v is not None and v.user_set_cover else ""
        if not cover:
            cover = urls[(len(urls) - 1) // 2] if urls else ""
        event: JsonDict = {
            "EventType": "SnapshotComplete",
            "VideoId": video_id,
            "Status": "success",
            "CoverUrl": cover,
            "SnapshotInfos": [
                {
                    "Status": "success",
                    "SnapshotType": snaps.snapshot_type,
                    "SnapshotCount": snaps.count,
                    "SnapshotFormat": snaps.fmt,
                    "SnapshotRegular": snaps.regular,
                    "JobId": snaps.job_id,
                }
            ],
        }
        if sub_type:
            event["SubType"] = sub_type
        return _Emission(self._with_extend(event, extend), app_id, override, apply)

    @staticmethod
    def _with_extend(event: JsonDict, extend: str | None) -> JsonDict:
        if extend is not None:
            event["Extend"] = extend
        return event

    def _app_of(self, media_id: str) -> str:
        with self._lock:
            video = self._videos.get(media_id)
            return video.app_id if video else DEFAULT_APP_ID

    # ---- emitter ---------------------------------------------------------------------------

    def _enqueue(self, emission: _Emission) -> None:
        with self._emit_cond:
            self._pending += 1
            self._emit_queue.append(emission)
            self._emit_cond.notify_all()

    @property
    def emitted(self) -> list[EmittedEvent]:
        """Every event the emitter has handled, in order, with its outcome."""
        with self._emit_cond:
            return list(self._emitted)

    @property
    def dropped_events(self) -> list[EmittedEvent]:
        """Events given up after the last failed attempt."""
        with self._emit_cond:
            return list(self._dropped)

    @property
    def delivery_log(self) -> list[DeliveryAttempt]:
        with self._emit_cond:
            return list(self._deliveries)

    def wait_emitted(self, n: int, timeout: float = 5.0) -> list[EmittedEvent]:
        """Block until ``n`` events were handled (any outcome); TimeoutError otherwise."""
        with self._emit_cond:
            if not self._emit_cond.wait_for(lambda: len(self._emitted) >= n, timeout):
                raise TimeoutError(
                    f"{len(self._emitted)} of {n} events emitted after {timeout} s: "
                    f"{[e.event_type for e in self._emitted]}"
                )
            return list(self._emitted)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until every queued event has been handled."""
        with self._emit_cond:
            if not self._emit_cond.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"{self._pending} events still pending after {timeout} s")

    def clear_emitted(self) -> None:
        with self._emit_cond:
            self._emitted.clear()
            self._dropped.clear()
            self._deliveries.clear()

    def _emit_loop(self) -> None:
        while True:
            with self._emit_cond:
                self._emit_cond.wait_for(lambda: bool(self._emit_queue))
                item = self._emit_queue.popleft()
            if item is None or self._stopping.is_set():
                return
            try:
                outcome = self._emit_one(item)
            except Exception:  # never let one event kill the emitter
                log.exception("emitting %s failed", item.payload.get("EventType"))
                outcome = "dropped"
            record = EmittedEvent(str(item.payload.get("EventType", "")), item.payload, outcome)
            with self._emit_cond:
                self._emitted.append(record)
                if outcome == "dropped":
                    self._dropped.append(record)
                self._pending -= 1
                self._emit_cond.notify_all()

    def _emit_one(self, item: _Emission) -> Outcome:
        item.payload.setdefault("EventTime", _utc_now())
        if item.apply is not None:
            item.apply()
        event_type = str(item.payload.get("EventType", ""))
        config = self.callback_config(item.app_id)
        if config is None:
            return "no_callback"
        if not config.wants(event_type):
            return "filtered"
        body = _json_bytes(item.payload)
        is_mns = config.callback_type == "MNS"
        if is_mns:
            if not (config.mns_endpoint and config.mns_queue_name):
                return "no_callback"
            target = f"{config.mns_endpoint.rstrip('/')}/queues/{config.mns_queue_name}"
        else:
            target = item.override_url or config.callback_url or ""
            if not target:
                return "no_callback"
        attempts = 1 + max(0, self.delivery_retries)
        for attempt in range(1, attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                if is_mns:
                    self._send_mns(config, body)
                else:
                    status = self._post_http(target, body, config)
                ok = is_mns or status == 200
                if not ok:
                    error = f"HTTP {status}"
            except Exception as exc:  # transport errors are just failed attempts
                ok = False
                error = f"{type(exc).__name__}: {exc}"
            with self._emit_cond:
                self._deliveries.append(
                    DeliveryAttempt(event_type, target, attempt, ok, status, error, time.time())
                )
            if ok:
                return "delivered"
            log.info(
                "delivering %s to %s failed (attempt %d): %s", event_type, target, attempt, error
            )
            if attempt < attempts and self._stopping.wait(self.retry_spacing):
                break
        return "dropped"

    def _post_http(self, url: str, body: bytes, config: CallbackConfig) -> int:
        parts = urlsplit(url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Apache-HttpClient/4.5.13 (Java/1.8.0; vodhook-sandbox)",
            "Accept-Encoding": "gzip,deflate",
        }
        if config.auth_switch.lower() == "on" and config.auth_key:
            timestamp = str(int(time.time()))  # each attempt is signed when it starts
            headers["X-VOD-TIMESTAMP"] = timestamp
            headers["X-VOD-SIGNATURE"] = _vod_signature(url, timestamp, config.auth_key)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=self.delivery_timeout,
                context=ssl.create_default_context(),
            )
        else:
            conn = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=self.delivery_timeout
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def _send_mns(self, config: CallbackConfig, body: bytes) -> None:
        from mns.queue import Message  # imported lazily: only MNS delivery needs the SDK

        queue = self._mns_queue(config.mns_endpoint or "", config.mns_queue_name or "")
        queue.set_encoding(self.mns_base64)
        queue.send_message(Message(body.decode("utf-8")))

    def _mns_queue(self, endpoint: str, name: str) -> Any:
        key = (endpoint, name)
        queue = self._mns_queues.get(key)
        if queue is None:
            from mns.account import Account

            account = Account(
                endpoint.rstrip("/"), self.mns_access_key_id, self.mns_access_key_secret
            )
            account.mns_client.set_connection_timeout(int(max(1.0, self.delivery_timeout)))
            queue = account.get_queue(name)
            self._mns_queues[key] = queue
        return queue

    # ---- request log -----------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._request_log)

    def calls(self, action: str | None = None) -> list[RequestRecord]:
        """Logged requests for one action (all when None)."""
        with self._log_lock:
            return [r for r in self._request_log if action is None or r.action == action]

    def clear_log(self) -> None:
        with self._log_lock:
            self._request_log.clear()

    # ---- OpenAPI front door ----------------------------------------------------------------

    def _serve_api(
        self,
        method: str,
        path: str,
        query: str,
        header_items: Sequence[tuple[str, str]],
        body: bytes,
    ) -> _Reply:
        """Answer one OpenAPI request. Runs on its own handler thread, so sleeps block no one."""
        mono, wall = time.monotonic(), time.time()
        request_id = _request_id()
        headers: dict[str, list[str]] = {}
        for name, value in header_items:
            headers.setdefault(name.lower(), []).append(value)
        query_pairs = parse_qsl(query, keep_blank_values=True)
        form_pairs: list[tuple[str, str]] = []
        content_type = (headers.get("content-type") or [""])[0].lower()
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            form_pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        all_params = dict(query_pairs + form_pairs)
        action = (headers.get("x-acs-action") or [all_params.get("Action", "")])[0] or None
        api_params = {k: v for k, v in all_params.items() if k not in _V2_PROTOCOL_PARAMS}
        signature: str | None = None
        fault_kind: str | None = None
        status: int | None = 200
        code: str | None = None
        reply: _Reply
        try:
            if self.latency > 0:
                self._stopping.wait(self.latency)
            version = (headers.get("x-acs-version") or [all_params.get("Version", "")])[0]
            if not action:
                raise _missing("Action")
            if version != API_VERSION:
                raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            handler = self._actions.get(action)
            if handler is None:
                raise ApiError(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                )
            signature = self._authenticate(method, path, query_pairs, all_params, headers, body)
            self._check_qps(action, mono)
            fault = self.faults.match(action)
            if fault is not None:
                fault_kind = fault.kind
                error = fault.error()
                if fault.delay > 0:
                    self._stopping.wait(fault.delay)
                if error is not None:
                    raise error
                if fault.kind == "timeout" and fault.drop:
                    status = None
                    reply = _Reply(0, b"", drop=True)
                    return reply
            result = handler(api_params)
            reply = _Reply(200, _json_bytes({"RequestId": request_id, **result}))
        except ApiError as exc:
            status, code = exc.status, exc.code
            reply = self._error_reply(exc, request_id)
        except Exception as exc:  # a bug here must still answer like the service does
            log.exception("VOD emulator failed on %s", action)
            status, code = 500, "InternalError"
            reply = self._error_reply(
                ApiError(500, "InternalError", f"The request processing has failed: {exc}"),
                request_id,
            )
        finally:
            record = RequestRecord(
                mono=mono,
                wall=wall,
                action=action,
                params=api_params,
                status=status,
                code=code,
                request_id=request_id,
                signature=signature,
                fault=fault_kind,
                elapsed=time.monotonic() - mono,
            )
            with self._log_lock:
                self._request_log.append(record)
        reply.headers["x-acs-request-id"] = request_id
        return reply

    def _error_reply(self, exc: ApiError, request_id: str) -> _Reply:
        body = {
            "RequestId": request_id,
            "HostId": self.host_id,
            "Code": exc.code,
            "Message": exc.message,
        }
        return _Reply(exc.status, _json_bytes(body), dict(exc.headers))

    def _check_qps(self, action: str, now: float) -> None:
        if not self.enforce_qps:
            return
        limit = self.qps_limits.get(action)
        if not limit:
            return
        with self._lock:
            window = self._qps_windows.setdefault(action, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                raise ApiError(503, "Throttling", THROTTLING_MESSAGE)
            window.append(now)

    # ---- authentication --------------------------------------------------------------------

    def _authenticate(
        self,
        method: str,
        path: str,
        query_pairs: list[tuple[str, str]],
        params: Mapping[str, str],
        headers: Mapping[str, list[str]],
        body: bytes,
    ) -> str:
        authorization = (headers.get("authorization") or [""])[0]
        if authorization.startswith("ACS3-"):
            self._verify_v3(method, path, query_pairs, headers, body, authorization)
            return "v3"
        if "Signature" in params:
            self._verify_v2(method, params)
            return "v2"
        raise ApiError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )

    def _lookup_key(self, access_key_id: str) -> tuple[str, str | None]:
        with self._lock:
            entry = self._credentials.get(access_key_id)
        if entry is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return entry

    def _check_time(self, value: str) -> None:
        try:
            then = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise ApiError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ) from None
        if abs(time.time() - then) > self.clock_skew:
            raise ApiError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )

    def _check_token(self, expected: str | None, presented: str | None) -> None:
        if expected:
            if not presented:
                raise ApiError(
                    400, "MissingSecurityToken", "SecurityToken is mandatory for this action."
                )
            if not hmac.compare_digest(expected, presented):
                raise ApiError(
                    400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed."
                )
        elif presented:
            raise ApiError(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )

    def _check_nonce(self, access_key_id: str, nonce: str) -> None:
        now = time.monotonic()
        key = (access_key_id, nonce)
        with self._lock:
            horizon = now - 2 * self.clock_skew
            while self._nonces:
                oldest_key, seen = next(iter(self._nonces.items()))
                if seen >= horizon:
                    break
                del self._nonces[oldest_key]
            if key in self._nonces:
                raise ApiError(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces[key] = now

    @staticmethod
    def _signature_mismatch(string_to_sign: str) -> ApiError:
        return ApiError(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. "
            f"server string to sign is:{string_to_sign}",
        )

    def _verify_v3(
        self,
        method: str,
        path: str,
        query_pairs: list[tuple[str, str]],
        headers: Mapping[str, list[str]],
        body: bytes,
        authorization: str,
    ) -> None:
        """ACS3-HMAC-SHA256, canonicalized exactly like alibabacloud_tea_openapi.utils."""
        algorithm, _, rest = authorization.partition(" ")
        if algorithm != "ACS3-HMAC-SHA256":
            raise ApiError(
                400, "InvalidSignatureMethod", "Specified signature method is not supported."
            )
        try:
            parts = dict(item.strip().split("=", 1) for item in rest.split(","))
            access_key_id = parts["Credential"]
            signed_headers = parts["SignedHeaders"]
            signature = parts["Signature"]
        except (KeyError, ValueError):
            raise ApiError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            ) from None
        secret, token = self._lookup_key(access_key_id)
        signed = signed_headers.split(";")
        required = list(_V3_REQUIRED_SIGNED)
        required += [h for h in ("x-acs-security-token", "x-acs-accesskey-id") if h in headers]
        missing = [h for h in required if h not in signed or h not in headers]
        if missing:
            raise ApiError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards. "
                f"Headers not signed or absent: {', '.join(missing)}",
            )
        self._check_time(headers["x-acs-date"][0])
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical_query = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(query_pairs))
        canonical_headers = "".join(
            f"{name}:{','.join(sorted(v.strip() for v in headers.get(name, [''])))}\n"
            for name in signed
        )
        canonical_request = "\n".join(
            [method, path or "/", canonical_query, canonical_headers, signed_headers, payload_hash]
        )
        string_to_sign = (
            "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
        )
        want = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if headers["x-acs-content-sha256"][0] != payload_hash or not hmac.compare_digest(
            signature, want
        ):
            raise self._signature_mismatch(string_to_sign)
        presented = (headers.get("x-acs-security-token") or [""])[0] or None
        self._check_token(token, presented)
        if presented and (headers.get("x-acs-accesskey-id") or [""])[0] != access_key_id:
            raise ApiError(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        self._check_nonce(access_key_id, headers["x-acs-signature-nonce"][0])

    def _verify_v2(self, method: str, params: Mapping[str, str]) -> None:
        """RPC signature 1.0: HMAC-SHA1 over the sorted, RFC 3986-encoded parameters."""
        missing = [
            name
            for name in ("AccessKeyId", "SignatureNonce", "Timestamp", "SignatureMethod")
            if not params.get(name)
        ]
        if missing:
            raise _missing(missing[0])
        if params["SignatureMethod"] != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise ApiError(
                400, "InvalidSignatureMethod", "Specified signature method is not supported."
            )
        secret, token = self._lookup_key(params["AccessKeyId"])
        self._check_time(params["Timestamp"])
        canonical = "&".join(
            f"{_pct(k)}={_pct(v)}" for k, v in sorted(params.items()) if k != "Signature"
        )
        string_to_sign = f"{method}&%2F&{_pct(canonical)}"
        digest = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(params["Signature"], base64.b64encode(digest).decode()):
            raise self._signature_mismatch(string_to_sign)
        self._check_token(token, params.get("SecurityToken"))
        self._check_nonce(params["AccessKeyId"], params["SignatureNonce"])

    # ---- actions ---------------------------------------------------------------------------

    def _get_play_info(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        output_type = p.get("OutputType") or "cdn"
        if output_type not in ("cdn", "oss"):
            raise _invalid("OutputType")
        result_type = p.get("ResultType") or "Single"
        if result_type not in ("Single", "Multiple"):
            raise _invalid("ResultType")
        ttl = _int_param(p, "AuthTimeout", 1800 if output_type == "cdn" else 3600, 1, 2592000)
        formats, definitions = _csv(p.get("Formats")), _csv(p.get("Definition"))
        stream_type = p.get("StreamType")
        with self._lock:
            video = self._get(vid)
            if video.status != "Normal":
                raise ApiError(
                    403,
                    "Forbidden.IllegalStatus",
                    f"Status of the video is illegal. Current Status is {video.status}.",
                )
            streams = [
                s
                for s in video.streams
                if s.status == "Normal"
                and (not formats or s.format in formats)
                and (not definitions or s.definition in definitions)
                and (not stream_type or s.stream_type == stream_type)
            ]
            if not streams:
                raise ApiError(
                    404,
                    "InvalidVideo.NoneStream",
                    "The video has no stream to play for the request parameter "
                    f"'Formats : {p.get('Formats') or 'all'}, Definition : "
                    f"{p.get('Definition') or 'all'}, StreamType : {stream_type or 'all'}'.",
                )
            if result_type == "Single":
                latest: dict[tuple[str, str], PlayStream] = {}
                for stream in streams:
                    latest[(stream.definition, stream.format)] = stream
                streams = [s for s in latest.values() if s.encrypt_type != "AliyunVoDEncryption"]
                if not streams:
                    raise ApiError(
                        403,
                        "Forbidden.AliyunVoDEncryption",
                        "Currently only the AliyunVoDEncryption stream exists, you must use the "
                        "Aliyun player to play or set the value of ResultType to Multiple.",
                    )
            play_infos = [self._play_info(s, output_type, ttl) for s in streams]
            base: JsonDict = {
                "VideoId": video.video_id,
                "Title": video.title,
                "CoverURL": video.cover_url,
                "Duration": f"{video.duration:g}",
                "Status": video.status,
                "MediaType": "video",
                "CreationTime": video.creation_time,
                "StorageClass": video.storage_class,
                "OutputType": output_type,
                "TranscodeMode": "FastTranscode",
            }
        return {"VideoBase": base, "PlayInfoList": {"PlayInfo": play_infos}}

    def _play_info(self, s: PlayStream, output_type: str, ttl: int) -> JsonDict:
        info: JsonDict = {
            "PlayURL": self._signed_url(s.file_path, output_type, ttl),
            "Format": s.format,
            "Definition": s.definition,
            "StreamType": s.stream_type,
            "Duration": f"{s.duration:g}",
            "Bitrate": s.bitrate,
            "Fps": s.fps,
            "Size": s.size,
            "Width": s.width,
            "Height": s.height,
            "Status": s.status,
            "Encrypt": s.encrypt,
            "JobId": s.job_id,
            "Specification": f"H264.{s.definition}",
            "NarrowBandType": "0",
            "HDRType": "",
            "BitDepth": 8,
            "CodecName": s.codec_name,
            "JobType": 1,
            "CreationTime": s.creation_time,
            "ModificationTime": s.creation_time,
            "PreprocessStatus": "UnPreprocess",
        }
        if s.encrypt_type:
            info["EncryptType"] = s.encrypt_type
        return info

    def _video_map(self, video: Video, *, wrap_snapshots: bool) -> JsonDict:
        out: JsonDict = {
            "VideoId": video.video_id,
            "Title": video.title,
            "Duration": float(video.duration),
            "Size": int(video.size),
            "Status": video.status,
            "CreationTime": video.creation_time,
            "ModificationTime": video.modification_time,
            "RegionId": REGION_ID,
            "StorageLocation": self.oss_host,
            "StorageClass": video.storage_class,
            "AppId": video.app_id,
            "AuditStatus": video.audit_status,
            "DownloadSwitch": "on",
        }
        for key, value in (
            ("Description", video.description),
            ("Tags", video.tags),
            ("CoverURL", video.cover_url),
            ("CateName", video.cate_name),
            ("TemplateGroupId", video.template_group_id),
            ("UserData", video.user_data),
        ):
            if value:
                out[key] = value
        if video.cate_id is not None:
            out["CateId"] = int(video.cate_id)
        snapshots = video.snapshots
        out["Snapshots"] = {"Snapshot": snapshots} if wrap_snapshots else snapshots
        return out

    def _get_video_info(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        with self._lock:
            return {"Video": self._video_map(self._get(vid), wrap_snapshots=True)}

    def _get_video_infos(self, p: dict[str, str]) -> JsonDict:
        ids = _csv(_require(p, "VideoIds"))
        if len(ids) > 20:
            raise ApiError(400, "VideoIdsExceededMax", "The VideoIds exceeded maximum.")
        with self._lock:
            found = [self._videos[i] for i in ids if i in self._videos]
            missing = [i for i in ids if i not in self._videos]
            if not found:
                raise _video_not_found()
            videos = [self._video_map(v, wrap_snapshots=False) for v in found]
        return {"VideoList": videos, "NonExistVideoIds": missing}

    def _update_video_info(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        title, description = p.get("Title"), p.get("Description")
        tags, cover, cate = p.get("Tags"), p.get("CoverURL"), p.get("CateId")
        if title is not None and len(title.encode()) > 128:
            raise _length_exceeded("Title", 128)
        if description is not None and len(description.encode()) > 1024:
            raise _length_exceeded("Description", 1024)
        if tags is not None:
            _check_tags(tags)
        cate_id: int | None = None
        if cate:
            try:
                cate_id = int(cate)
            except ValueError:
                raise _invalid("CateId") from None
        with self._lock:
            video = self._get(vid)
            changes: dict[str, tuple[Any, Any]] = {}
            for name, attr, value in (
                ("Title", "title", title),
                ("Description", "description", description),
                ("Tags", "tags", tags),
                ("CoverURL", "cover_url", cover),
                ("CateId", "cate_id", cate_id),
                ("UserData", "user_data", p.get("UserData")),
            ):
                if value is not None:
                    changes[name] = (getattr(video, attr), value)
                    setattr(video, attr, value)
            if cover:
                video.user_set_cover = True
            video.modification_time = _utc_now()
            app_id = video.app_id
        self._media_base_change(vid, app_id, "update", changes)
        return {}

    def _media_base_change(
        self, media_id: str, app_id: str, mode: str, changes: Mapping[str, tuple[Any, Any]]
    ) -> None:
        if not self.emit_media_base_change:
            return
        content: dict[str, str] = {}
        for name, (old, new) in changes.items():
            pair: JsonDict = {}
            if mode != "create" and old not in (None, ""):
                pair["OldValue"] = old
            if mode != "delete" and new is not None:
                pair["NewValue"] = new
            content[name] = json.dumps(pair, ensure_ascii=False)
        self._enqueue(
            _Emission(
                {
                    "EventType": "MediaBaseChangeComplete",
                    "Status": "success",
                    "MediaId": media_id,
                    "MediaType": "video",
                    "OperateMode": mode,
                    "MediaContent": json.dumps(content, ensure_ascii=False),
                },
                app_id,
            )
        )

    def _get_mezzanine_info(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        output_type = p.get("OutputType") or "oss"
        if output_type not in ("cdn", "oss"):
            raise _invalid("OutputType")
        ttl = _int_param(p, "AuthTimeout", 1800, 1, 2592000)
        additions = set(_csv(p.get("AdditionType")))
        with self._lock:
            video = self._get(vid)
            if not video.has_mezzanine or video.status == "UploadFail":
                raise ApiError(404, "InvalidFile.NotFound", "The file does not exist.")
            uploading = video.status == "Uploading"
            mezzanine: JsonDict = {
                "VideoId": video.video_id,
                "FileName": video.file_name,
                "Status": "Uploading" if uploading else "Normal",
                "Size": int(video.size),
                "CreationTime": video.creation_time,
                "OutputType": output_type,
                "StorageClass": video.storage_class,
                "PreprocessStatus": "UnPreprocess",
            }
            if not uploading:
                source_path = urlsplit(self._source_url(video)).path
                mezzanine.update(
                    {
                        "FileURL": self._signed_url(source_path, output_type, ttl),
                        "Duration": f"{video.duration:g}",
                        "Bitrate": video.bitrate,
                        "Fps": video.fps,
                        "Width": video.width,
                        "Height": video.height,
                        "FileMD5": hashlib.md5(video.video_id.encode()).hexdigest(),
                    }
                )
                if "video" in additions:
                    mezzanine["VideoStreamList"] = [self._mezzanine_video_stream(video)]
                if "audio" in additions:
                    mezzanine["AudioStreamList"] = [self._mezzanine_audio_stream(video)]
        return {"Mezzanine": mezzanine}

    @staticmethod
    def _mezzanine_video_stream(video: Video) -> JsonDict:
        return {
            "Index": "0",
            "CodecName": "h264",
            "CodecLongName": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
            "CodecTag": "0x31637661",
            "CodecTagString": "avc1",
            "CodecTimeBase": "1/50",
            "Profile": "High",
            "Level": "40",
            "Width": str(video.width),
            "Height": str(video.height),
            "Sar": "1:1",
            "Dar": "16:9",
            "PixFmt": "yuv420p",
            "Fps": f"{video.fps}.0",
            "AvgFPS": f"{video.fps}.0",
            "Timebase": "1/12800",
            "StartTime": "0.000000",
            "Duration": f"{video.duration:g}",
            "Bitrate": str(int(video.bitrate) - 128),
            "NumFrames": str(int(video.duration * float(video.fps or 25))),
            "HasBFrames": "2",
            "Lang": "und",
            "Rotate": "0",
            "HDRType": "SDR",
        }

    @staticmethod
    def _mezzanine_audio_stream(video: Video) -> JsonDict:
        return {
            "Index": "1",
            "CodecName": "aac",
            "CodecLongName": "AAC (Advanced Audio Coding)",
            "CodecTag": "0x6134706d",
            "CodecTagString": "mp4a",
            "CodecTimeBase": "1/44100",
            "SampleFmt": "fltp",
            "SampleRate": "44100",
            "Channels": "2",
            "ChannelLayout": "stereo",
            "Timebase": "1/44100",
            "StartTime": "0.000000",
            "Duration": f"{video.duration:g}",
            "Bitrate": "128",
            "NumFrames": str(int(video.duration * 44100 / 1024)),
            "Lang": "und",
        }

    def _submit_workflow_job(self, p: dict[str, str]) -> JsonDict:
        workflow_id = _require(p, "WorkflowId")
        media_id = p.get("MediaId") or ""
        task_id = _new_id()
        with self._lock:
            if media_id and media_id not in self._videos:
                raise _video_not_found()
        now = _utc_now()
        self._enqueue(
            _Emission(
                {
                    "EventType": "WorkflowTaskComplete",
                    "WorkflowId": workflow_id,
                    "Status": "Succeed",
                    "VideoId": media_id,
                    "TaskId": task_id,
                    "UserId": "1234567890123456",
                    "ActivityResults": "{}",
                    "TaskInput": json.dumps({"Type": "Media", "Media": media_id}),
                    "CreateTime": now,
                    "ModifiedTime": now,
                    "FinishTime": now,
                },
                self._app_of(media_id),
            )
        )
        return {"TaskId": task_id}

    def _submit_transcode_jobs(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        group = _require(p, "TemplateGroupId")
        _int_param(p, "Priority", 6, 1, 10)
        override, extend = _parse_user_data(p.get("UserData"))
        with self._lock:
            video = self._get(vid)
            if video.status not in ("UploadSucc", "Normal", "Checking"):
                raise ApiError(400, "Forbidden.IllegalStatus", "Status of the video is illegal.")
            pairs = self.template_groups.get(group, self.default_transcode)
            now = _utc_now()
            streams = [self._make_stream(video, d, f, now) for d, f in pairs]
            video.template_group_id = group
            app_id = video.app_id
            override = override or video.callback_url
            extend = extend if extend is not None else video.extend
        task_id = _new_id()
        if streams:
            self._emit_transcode(vid, streams, now, app_id, override, extend)
        return {
            "TranscodeTaskId": task_id,
            "TranscodeJobs": {"TranscodeJob": [{"JobId": s.job_id} for s in streams]},
        }

    def _submit_snapshot_job(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        count = _int_param(p, "Count", 1, 1, 10_000)
        for name in ("Width", "Height"):
            _int_param(p, name, 8, 8, 4096)
        _int_param(p, "SpecifiedOffsetTime", 0, 0)
        override, extend = _parse_user_data(p.get("UserData"))
        snapshot_type = "SpriteSnapshot" if p.get("SpriteSnapshotConfig") else "NormalSnapshot"
        with self._lock:
            video = self._get(vid)
            if video.status not in ("UploadSucc", "Normal", "Checking", "Blocked"):
                raise ApiError(400, "Forbidden.IllegalStatus", "Status of the video is illegal.")
            snaps = self._make_snapshot_set(video, snapshot_type, count, _utc_now())
            app_id = video.app_id
            override = override or video.callback_url
            extend = extend if extend is not None else video.extend
        self._enqueue(
            self._snapshot_emission(vid, app_id, snaps, override, extend, "SpecifiedTime")
        )
        return {"SnapshotJob": {"JobId": snaps.job_id}}

    def _submit_ai_job(self, p: dict[str, str]) -> JsonDict:
        media_id = _require(p, "MediaId")
        types = _csv(_require(p, "Types"))
        if not types or any(t not in _AI_JOB_EVENTS for t in types):
            raise _invalid("Types")
        with self._lock:
            self._get(media_id)
        jobs: list[JsonDict] = []
        for job_type in types:
            job_id = _new_id()
            jobs.append({"JobId": job_id, "MediaId": media_id, "Type": job_type})
            data: JsonDict = (
                {"Keyword": [{"Tag": "sandbox", "Times": ["1000", "4000"]}]}
                if job_type == "AIVideoTag"
                else {"VideoDNA": []}
            )
            self._enqueue(
                _Emission(
                    {
                        "EventType": _AI_JOB_EVENTS[job_type],
                        "JobId": job_id,
                        "MediaId": media_id,
                        "Status": "success",
                        "Code": "0",
                        "Message": "OK",
                        "Data": json.dumps(data),
                    },
                    self._app_of(media_id),
                )
            )
        return {"AIJobList": {"AIJob": jobs}}

    @staticmethod
    def _audit_data(suggestion: str) -> JsonDict:
        label = "normal" if suggestion == "pass" else "porn"
        score = "0.0" if suggestion == "pass" else ("99.9" if suggestion == "block" else "75.0")
        scene: JsonDict = {
            "Suggestion": suggestion,
            "Label": label,
            "MaxScore": score,
            "AverageScore": score,
            "TopList": []
            if suggestion == "pass"
            else [{"Label": label, "Score": score, "Timestamp": "2000", "Url": ""}],
            "CounterList": [{"Label": label, "Count": 1}],
        }
        return {
            "Suggestion": suggestion,
            "Label": label,
            "AbnormalModules": "" if suggestion == "pass" else "video",
            "VideoResult": {
                "Suggestion": suggestion,
                "Label": label,
                "PornResult": scene,
                "TerrorismResult": {**scene, "Suggestion": "pass", "Label": "normal"},
            },
            "ImageResult": [],
            "TextResult": [],
            "AudioResult": [],
        }

    def _submit_ai_media_audit_job(self, p: dict[str, str]) -> JsonDict:
        media_id = _require(p, "MediaId")
        media_type = p.get("MediaType") or "video"
        if media_type not in ("video", "image", "audio"):
            raise _invalid("MediaType")
        with self._lock:
            self._get(media_id)
            suggestion = self.next_audit_suggestion or self.default_audit_suggestion
            self.next_audit_suggestion = None
            job = _AuditJob(_new_id(), media_id, suggestion, _utc_now())
            self._audit_jobs[job.job_id] = job

        def finish() -> None:
            with self._lock:
                job.status = "success"
                job.complete_time = _utc_now()

        self._enqueue(
            _Emission(
                {
                    "EventType": "AIMediaAuditComplete",
                    "JobId": job.job_id,
                    "MediaId": media_id,
                    "Status": "success",
                    "Code": "0",
                    "Message": "OK",
                    "Data": json.dumps(self._audit_data(suggestion), separators=(",", ":")),
                },
                self._app_of(media_id),
                apply=finish,
            )
        )
        return {"MediaId": media_id, "JobId": job.job_id}

    def _get_ai_media_audit_job(self, p: dict[str, str]) -> JsonDict:
        job_id = _require(p, "JobId")
        with self._lock:
            job = self._audit_jobs.get(job_id)
            if job is None:
                raise ApiError(
                    404, "NoSuchResource", "The specified resource JobId does not exist."
                )
            out: JsonDict = {
                "JobId": job.job_id,
                "MediaId": job.media_id,
                "Type": "AIMediaAudit",
                "Status": job.status,
                "CreationTime": job.creation_time,
            }
            if job.status == "success":
                out.update(
                    {
                        "Code": "0",
                        "Message": "OK",
                        "CompleteTime": job.complete_time,
                        "Data": self._audit_data(job.suggestion),
                    }
                )
        return {"MediaAuditJob": out}

    def _create_audit(self, p: dict[str, str]) -> JsonDict:
        raw = _require(p, "AuditContent")
        try:
            items = json.loads(raw)
        except ValueError:
            raise _invalid("AuditContent") from None
        if not isinstance(items, list) or not items or len(items) > 20:
            raise _invalid("AuditContent")
        audits: list[tuple[str, str, str]] = []
        for item in items:
            if not isinstance(item, dict):
                raise _invalid("AuditContent")
            vid, status = item.get("VideoId"), item.get("Status")
            reason = str(item.get("Reason") or "")
            if not isinstance(vid, str) or not vid:
                raise _missing("AuditContent.VideoId")
            if status not in ("Normal", "Blocked"):
                raise _invalid("AuditContent.Status")
            if len(reason.encode()) > 128:
                raise _length_exceeded("Reason", 128)
            audits.append((vid, status, reason))
        with self._lock:
            for vid, _, _ in audits:
                self._get(vid)
            now = _utc_now()
            for vid, status, _ in audits:
                video = self._videos[vid]
                video.audit_status = status
                if status == "Blocked":
                    video.status = "Blocked"
                elif video.status in ("Blocked", "Checking"):
                    video.status = "Normal"
                video.modification_time = now
        for vid, status, reason in audits:
            event: JsonDict = {
                "EventType": "CreateAuditComplete",
                "MediaId": vid,
                "Status": "success",
                "SubType": "video",
                "AuditStatus": status,
                "CreationTime": now,
                "Auditor": "sandbox-reviewer",
            }
            if reason:
                event["Reason"] = reason
            self._enqueue(_Emission(event, self._app_of(vid)))
        return {}

    def _delete_video(self, p: dict[str, str]) -> JsonDict:
        ids = _csv(_require(p, "VideoIds"))
        if len(ids) > 20:
            raise ApiError(400, "VideoIdsExceededMax", "The VideoIds exceeded maximum.")
        with self._lock:
            missing = [i for i in ids if i not in self._videos]
            if len(missing) == len(ids):
                raise _video_not_found()
            deleted = [self._videos.pop(i) for i in dict.fromkeys(ids) if i in self._videos]
        for video in deleted:
            self._enqueue(
                _Emission(
                    {
                        "EventType": "DeleteMediaComplete",
                        "Status": "success",
                        "MediaType": "video",
                        "DeleteType": "all",
                        "MediaId": video.video_id,
                    },
                    video.app_id,
                )
            )
            self._media_base_change(
                video.video_id, video.app_id, "delete", {"Title": (video.title, None)}
            )
        return {"NonExistVideoIds": missing, "ForbiddenVideoIds": []}

    def _list_snapshots(self, p: dict[str, str]) -> JsonDict:
        vid = _require(p, "VideoId")
        snapshot_type = p.get("SnapshotType") or "CoverSnapshot"
        if snapshot_type not in _SNAPSHOT_TYPES:
            raise _invalid("SnapshotType")
        page_size = _int_param(p, "PageSize", 20, 1, 100)
        page_no = _int_param(p, "PageNo", 1, 1)
        ttl = max(3600, _int_param(p, "AuthTimeout", 3600, 1))
        with self._lock:
            video = self._get(vid)
            if video.status not in ("UploadSucc", "Normal", "Checking", "Blocked"):
                raise ApiError(400, "Forbidden.IllegalStatus", "Status of the video is illegal.")
            snaps = video.snapshot_sets.get(snapshot_type)
        if snaps is None:
            return {"MediaSnapshot": {"Total": 0, "Snapshots": {"Snapshot": []}}}
        start = (page_no - 1) * page_size
        page = [
            {"Index": index, "Url": self._signed_url(urlsplit(url).path, "cdn", ttl)}
            for index, url in enumerate(snaps.urls(), start=1)
        ][start : start + page_size]
        return {
            "MediaSnapshot": {
                "JobId": snaps.job_id,
                "CreationTime": snaps.creation_time,
                "Regular": snaps.regular,
                "Total": snaps.count,
                "Snapshots": {"Snapshot": page},
            }
        }

    def _set_message_callback(self, p: dict[str, str]) -> JsonDict:
        app_id = p.get("AppId") or DEFAULT_APP_ID
        with self._lock:
            old = self._callbacks.get(app_id)
        config = copy.copy(old) if old else CallbackConfig(app_id=app_id)
        callback_type = (p.get("CallbackType") or config.callback_type or "HTTP").upper()
        if callback_type not in ("HTTP", "MNS"):
            raise _invalid("CallbackType")
        config.callback_type = callback_type
        if "CallbackURL" in p:
            if len(p["CallbackURL"].encode()) > 256:
                raise _length_exceeded("CallbackURL", 256)
            config.callback_url = p["CallbackURL"] or None
        if "EventTypeList" in p:
            config.event_type_list = p["EventTypeList"]  # "" switches every notification off
        if "AuthKey" in p:
            if len(p["AuthKey"]) > 32:
                raise _length_exceeded("AuthKey", 32)
            config.auth_key = p["AuthKey"] or None
        if "AuthSwitch" in p:
            if p["AuthSwitch"] not in ("on", "off"):
                raise _invalid("AuthSwitch")
            config.auth_switch = p["AuthSwitch"]
        elif old is None and config.auth_key:
            config.auth_switch = "on"
        for name, attr in (("MnsEndpoint", "mns_endpoint"), ("MnsQueueName", "mns_queue_name")):
            if name in p:
                setattr(config, attr, p[name] or None)
        if callback_type == "HTTP" and not config.callback_url:
            raise _missing("CallbackURL")
        if callback_type == "MNS":
            if not config.mns_endpoint:
                raise _missing("MnsEndpoint")
            if not config.mns_queue_name:
                raise _missing("MnsQueueName")
        with self._lock:
            self._callbacks[app_id] = config
        return {}

    def _get_message_callback(self, p: dict[str, str]) -> JsonDict:
        config = self.callback_config(p.get("AppId") or DEFAULT_APP_ID)
        return {"MessageCallback": config.to_api()} if config else {}

    def _delete_message_callback(self, p: dict[str, str]) -> JsonDict:
        self.clear_callback(p.get("AppId") or DEFAULT_APP_ID)
        return {}

    def _create_upload_video(self, p: dict[str, str]) -> JsonDict:
        title = _require(p, "Title")
        file_name = _require(p, "FileName")
        if len(title) > 128:
            raise _length_exceeded("Title", 128)
        description = p.get("Description") or ""
        if len(description) > 1024:
            raise _length_exceeded("Description", 1024)
        ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
        if ext not in _UPLOAD_EXTENSIONS:
            raise ApiError(
                400, "InvalidFileName.Extension", "The specified FileName’s extension is illegal."
            )
        tags = p.get("Tags") or ""
        _check_tags(tags)
        cate_id: int | None = None
        if p.get("CateId"):
            try:
                cate_id = int(p["CateId"])
            except ValueError:
                raise _invalid("CateId") from None
        override, extend = _parse_user_data(p.get("UserData"))
        size = _int_param(p, "FileSize", 0, 0)
        video = Video(
            video_id=_new_id(),
            title=title,
            app_id=p.get("AppId") or DEFAULT_APP_ID,
            description=description,
            tags=tags,
            cate_id=cate_id,
            status="Uploading",
            file_name=file_name.replace("\\", "/").rsplit("/", 1)[-1],
            has_mezzanine=True,
            template_group_id=p.get("TemplateGroupId") or "",
            user_data=p.get("UserData"),
            callback_url=override,
            extend=extend,
        )
        if size:
            video.size = size
        if p.get("CoverURL"):
            video.cover_url = p["CoverURL"]
            video.user_set_cover = True
        with self._lock:
            self._videos[video.video_id] = video
        object_name = f"sv/{video.video_id[:8]}/{video.video_id}.{ext}"
        address = {
            "Endpoint": "https://oss-cn-shanghai.aliyuncs.com",
            "Bucket": self.oss_host.split(".", 1)[0],
            "FileName": object_name,
        }
        expires = datetime.fromtimestamp(time.time() + 3000, UTC).strftime(TIME_FORMAT)
        auth = {
            "SecurityToken": base64.b64encode(uuid.uuid4().bytes * 4).decode(),
            "AccessKeyId": f"STS.{uuid.uuid4().hex[:24]}",
            "AccessKeySecret": uuid.uuid4().hex,
            "Expiration": "3600",
            "ExpireUTCTime": expires,
            "Region": REGION_ID,
        }
        self._media_base_change(video.video_id, video.app_id, "create", {"Title": (None, title)})
        return {
            "VideoId": video.video_id,
            "UploadAddress": base64.b64encode(_json_bytes(address)).decode(),
            "UploadAuth": base64.b64encode(_json_bytes(auth)).decode(),
        }

    # ---- control endpoints -----------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        try:
            data = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("JSON object expected")
            result = self._control_route(method, path.rstrip("/"), data)
            return _Reply(200, _json_bytes(result))
        except ApiError as exc:
            return _Reply(exc.status, _json_bytes({"error": exc.message, "Code": exc.code}))
        except KeyError as exc:
            return _Reply(404, _json_bytes({"error": f"not found: {exc}"}))
        except (ValueError, TypeError, TimeoutError) as exc:
            return _Reply(400, _json_bytes({"error": str(exc)}))

    def _control_route(self, method: str, path: str, data: JsonDict) -> JsonDict:
        route = (method, path)
        if route == ("GET", "/_sandbox/health"):
            return {"ok": True, "endpoint": self.endpoint}
        if route == ("POST", "/_sandbox/upload"):
            definitions = tuple(data.get("definitions") or ("LD", "SD", "HD"))
            formats = tuple(data.get("formats") or ("mp4",))
            if data.get("video_id"):
                vid = str(data["video_id"])
                self.complete_upload(vid, definitions, formats)
            else:
                vid = self.upload(
                    title=str(data.get("title") or "Sandbox upload"),
                    file_name=data.get("file_name"),
                    app_id=str(data.get("app_id") or DEFAULT_APP_ID),
                    definitions=definitions,
                    formats=formats,
                    extend=data.get("extend"),
                    duration=float(data.get("duration") or 60.0),
                )
            if data.get("wait"):
                self.wait_idle(timeout=float(data.get("timeout") or 30.0))
            return {"VideoId": vid}
        if route == ("POST", "/_sandbox/callback"):
            self.set_callback(
                data.get("callback_url"),
                data.get("auth_key"),
                app_id=str(data.get("app_id") or DEFAULT_APP_ID),
                callback_type=str(data.get("callback_type") or "HTTP"),
                event_types=str(data.get("event_types", "ALL")),
                auth_switch=data.get("auth_switch"),
                mns_endpoint=data.get("mns_endpoint"),
                mns_queue_name=data.get("mns_queue_name"),
            )
            return {"ok": True}
        if route == ("GET", "/_sandbox/events"):
            return {
                "Emitted": [
                    {"EventType": e.event_type, "Outcome": e.outcome, "Payload": e.payload}
                    for e in self.emitted
                ]
            }
        if route == ("GET", "/_sandbox/requests"):
            return {
                "Requests": [
                    {
                        "Action": r.action,
                        "Status": r.status,
                        "Code": r.code,
                        "Fault": r.fault,
                        "Wall": r.wall,
                        "Elapsed": r.elapsed,
                        "Params": r.params,
                    }
                    for r in self.request_log
                ]
            }
        if route == ("POST", "/_sandbox/faults"):
            kind = str(data.get("kind") or "throttle")
            if kind not in FaultInjector._DEFAULT_DELAY:
                raise ValueError(f"unknown fault kind {kind!r}")
            self.faults.add(
                action=data.get("action"),
                kind=cast(FaultKind, kind),
                times=data.get("times"),
                probability=data.get("probability"),
                delay=data.get("delay"),
                retry_after_ms=data.get("retry_after_ms"),
                status=data.get("status"),
                code=data.get("code"),
                drop=bool(data.get("drop", False)),
            )
            return {"ok": True}
        if route == ("DELETE", "/_sandbox/faults"):
            self.faults.clear()
            return {"ok": True}
        if route == ("POST", "/_sandbox/config"):
            if "latency" in data:
                self.latency = float(data["latency"])
            if "retry_spacing" in data:
                self.retry_spacing = float(data["retry_spacing"])
            if "next_audit_suggestion" in data:
                self.next_audit_suggestion = data["next_audit_suggestion"]
            if "enforce_qps" in data:
                self.enforce_qps = bool(data["enforce_qps"])
            return {"ok": True}
        raise KeyError(f"{method} {path}")


# --------------------------------------------------------------------------------------------
# CLI support
# --------------------------------------------------------------------------------------------


def trigger_upload(
    endpoint: str,
    title: str = "Sandbox upload",
    *,
    timeout: float = 35.0,
    **options: Any,
) -> str:
    """Ask a running emulator (``http://127.0.0.1:PORT``) to run the upload sequence."""
    payload = _json_bytes({"title": title, **options})
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/_sandbox/upload",
        data=payload,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return str(json.loads(response.read())["VideoId"])


def serve_forever_cli(
    port: int,
    callback_url: str | None = None,
    auth_key: str | None = None,
    mns_endpoint: str | None = None,
    mns_queue: str | None = None,
    *,
    host: str = "127.0.0.1",
    access_key_id: str = "sandbox-ak",
    access_key_secret: str = "sandbox-secret",
    security_token: str | None = None,
    app_id: str = DEFAULT_APP_ID,
    event_types: str = "ALL",
    latency: float = 0.0,
    retry_spacing: float = 1.0,
    mns_access_key_id: str | None = None,
    mns_access_key_secret: str | None = None,
    out: IO[str] | None = None,
    ready: Callable[[VodEmulator], None] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run the emulator for ``vodhook sandbox`` until SIGINT/SIGTERM; prints the env to use."""
    stream = out or sys.stdout
    emulator = VodEmulator(
        host=host,
        port=port,
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        security_token=security_token,
        retry_spacing=retry_spacing,
        latency=latency,
        mns_access_key_id=mns_access_key_id,
        mns_access_key_secret=mns_access_key_secret,
    )
    emulator.start()
    if mns_endpoint and mns_queue:
        emulator.set_callback(
            app_id=app_id,
            callback_type="MNS",
            event_types=event_types,
            mns_endpoint=mns_endpoint,
            mns_queue_name=mns_queue,
        )
    elif callback_url:
        emulator.set_callback(callback_url, auth_key, app_id=app_id, event_types=event_types)
    lines = [
        f"# VOD emulator listening on {emulator.endpoint} (Ctrl-C to stop)",
        f"export VODHOOK_VOD_ENDPOINT={emulator.endpoint}",
        f"export ALIBABA_CLOUD_ACCESS_KEY_ID={access_key_id}",
        f"export ALIBABA_CLOUD_ACCESS_KEY_SECRET={access_key_secret}",
    ]
    if security_token:
        lines.append(f"export ALIBABA_CLOUD_SECURITY_TOKEN={security_token}")
    if mns_endpoint and mns_queue:
        lines += [
            f"export VODHOOK_MNS_ENDPOINT={mns_endpoint}",
            f"export VODHOOK_MNS_QUEUE={mns_queue}",
        ]
    elif callback_url:
        lines.append(f"export VODHOOK_CALLBACK_URLS={callback_url}")
        if auth_key:
            # Never echo a key: the user already has it (it came from their settings).
            lines.append("# events are signed with your VODHOOK_AUTH_KEYS (first key)")
        else:
            lines.append("# events are unsigned: run vodhook with VODHOOK_AUTH=off")
    lines.append(
        f"# trigger an upload: curl -X POST {emulator.endpoint}/_sandbox/upload "
        """-d '{"title": "demo"}'"""
    )
    print("\n".join(lines), file=stream, flush=True)

    done = stop_event or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        if ready is not None:
            ready(emulator)
        while not done.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        emulator.stop()
    return 0
