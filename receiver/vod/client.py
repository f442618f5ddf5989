"""VodClient: how vodhook calls the VOD OpenAPI (Tea SDK `alibabacloud-vod20170321`).

One client per process (the service builds it with `VodClient.from_settings` and hands it to
the dispatcher, which puts it on every HandlerContext as `ctx.vod`). It adds what the SDK
lacks for a long-running async service:

* retries that never block the event loop: the SDK's own retry sleeps with `time.sleep`, so
  SDK retries are off (no `retry_options`) and this class retries Throttling*, 5xx and
  transport errors with capped exponential backoff + jitter on `asyncio.sleep`. Calls that
  are not idempotent (Submit*, Create*, ...) are retried only when VOD certainly did not act
  on them: throttling, or a connection that was never established;
* per-action rate limits shared by every handler of the process (receiver.vod.ratelimit);
* typed errors carrying VOD's code (receiver.vod.errors), scrubbed of secrets;
* a check for the SDK's silent failure mode: a response that does not match the SDK model
  parses into `body=None` without raising;
* typed results for the calls the built-in handlers make, plus `call()` for any action.

Transport decision (measured, not assumed). The SDK's `*_async` methods open a new aiohttp
session and TCP connection for every call, and over HTTPS they also build an SSL context and
load the certifi CA bundle *on the event loop* for every call. The sync methods reuse one
keep-alive requests Session (per scheme+host) that builds its SSL context once. Measured in
this container (2 vCPU, Python 3.11.7, OpenSSL 3.0.19), 300 GetVideoInfo calls against the
loopback emulator over plain HTTP:

    async SDK methods, 1 at a time ............ 261 calls/s   (16 at a time: 376 calls/s)
    sync methods in a 16-thread pool, 1 ....... 296 calls/s   (16 at a time: 479 calls/s)
    SSL context + certifi load, per async HTTPS call: 84 ms of CPU on the loop thread

So over HTTPS (the default, and the only sensible choice against the real endpoint) the async
path would stall the event loop ~84 ms per VOD call and pay a TCP+TLS handshake every time;
at 12 calls/s the loop would do nothing else. Decision: run the sync SDK methods in a bounded
thread pool of this client's own (requests Session pool sized to match), and keep everything
else (rate limits, retries, backoff) on the event loop.

A caveat of threads: a call cannot be interrupted. A cancelled caller (handler timeout) stops
waiting at once, but its thread runs until the SDK's read timeout, and keeps its pool slot
until then so that a token taken from a bucket is always spent at once (see `_send`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from receiver.backoff import retry_delay
from receiver.vod.errors import (
    VodAuthError,
    VodBadResponse,
    VodError,
    VodForbidden,
    VodInvalidParameter,
    VodNotFound,
    VodServerError,
    VodThrottled,
    VodTransportError,
)
from receiver.vod.ratelimit import RateLimits

if TYPE_CHECKING:
    from receiver.settings import Settings

__all__ = [
    "DeleteResult",
    "MediaStatus",
    "MessageCallback",
    "MezzanineInfo",
    "PlayInfo",
    "PlayStream",
    "RetryPolicy",
    "SubmitResult",
    "VideoInfo",
    "VodClient",
    "is_idempotent",
    "parse_endpoint",
]

USER_AGENT: Final = "vodhook/0.1.0"

#: Actions that create something new on every call (no client token exists in this API).
NON_IDEMPOTENT_PREFIXES: Final = ("Submit", "Create", "Produce", "Upload", "Add")

#: Codes meaning "these credentials were not accepted", whatever the HTTP status.
_AUTH_CODES: Final = (
    "InvalidCredentials",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidAccessKeySecret",
    "InvalidSecurityToken",
    "MissingSecurityToken",
    "InvalidTimeStamp",
    "SignatureNonceUsed",
)
_NOT_FOUND_CODES: Final = frozenset({"NoSuchResource", "InvalidVideo.NoneStream"})

_CONNECT_ERRORS: Final = frozenset(
    {
        # requests / urllib3
        "ConnectTimeout",
        "ConnectTimeoutError",
        "NewConnectionError",
        "NameResolutionError",
        # aiohttp (only if the async path is ever used again)
        "ClientConnectorError",
        "ClientConnectorDNSError",
        "ConnectionTimeoutError",
        # stdlib
        "ConnectionRefusedError",
        "gaierror",
    }
)
_READ_TIMEOUTS: Final = frozenset(
    {"ReadTimeout", "ReadTimeoutError", "SocketTimeoutError", "ServerTimeoutError", "timeout"}
)
_MESSAGE_LIMIT: Final = 300

MediaStatus = str  # Uploading, UploadFail, UploadSucc, Transcoding, TranscodeFail, Checking,
# Blocked, Normal, ProduceFail (seed 004, lines 32977-33010)


def is_idempotent(action: str) -> bool:
    """Whether repeating `action` after an unknown outcome is harmless."""
    return not action.startswith(NON_IDEMPOTENT_PREFIXES)


def parse_endpoint(endpoint: str | None) -> tuple[str | None, str]:
    """VODHOOK_VOD_ENDPOINT -> (host[:port] for the SDK, protocol).

    The SDK sends `endpoint` verbatim as the signed Host header, so it cannot carry a scheme;
    the scheme becomes `protocol` instead. No endpoint: (None, "https") and the SDK resolves
    the region's endpoint. A bare host means https.
    """
    if not endpoint or not endpoint.strip():
        return None, "https"
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"VOD endpoint {endpoint!r}: scheme must be http or https")
    if not parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"VOD endpoint {endpoint!r} must be scheme://host[:port] without a path")
    if parts.username or parts.password:
        raise ValueError(f"VOD endpoint {endpoint!r} must not contain credentials")
    return parts.netloc, scheme


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one call is retried inside the client.

    Worst case with the defaults: 4 attempts x 10 s read timeout + ~1.4 s of backoff, which
    stays inside the default 60 s handler timeout. The dispatcher retries the whole event
    later when this gives up.
    """

    attempts: int = 4
    base: float = 0.2  # first backoff, seconds (doubles, equal jitter)
    cap: float = 5.0  # longest backoff, seconds

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = retry_delay(attempt, self.base, self.cap)
        return max(wait, retry_after) if retry_after else wait


# -- typed results -------------------------------------------------------------------------


def _s(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _f(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _i(value: Any) -> int | None:
    number = _f(value)
    return None if number is None else int(number)


def _map(model: Any) -> dict[str, Any]:
    raw = model.to_map() if model is not None and hasattr(model, "to_map") else {}
    return dict(raw) if isinstance(raw, Mapping) else {}


@dataclass(frozen=True)
class PlayStream:
    """One playable stream from GetPlayInfo (Bitrate in Kbit/s, Duration in seconds)."""

    url: str
    definition: str | None = None
    format: str | None = None
    stream_type: str | None = None
    bitrate: float | None = None
    size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    encrypt: bool | None = None
    encrypt_type: str | None = None
    codec_name: str | None = None
    status: str | None = None
    job_id: str | None = None
    creation_time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict without empty fields (handler results go into the journal)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PlayInfo:
    """GetPlayInfo: the video's base info and its streams."""

    video_id: str
    streams: tuple[PlayStream, ...]
    title: str | None = None
    status: str | None = None
    duration: float | None = None
    cover_url: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class VideoInfo:
    """GetVideoInfo. `snapshots` are VOD's cover snapshots (Video.Snapshots.Snapshot)."""

    video_id: str
    status: str | None = None
    title: str | None = None
    cover_url: str | None = None
    snapshots: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    app_id: str | None = None
    audit_status: str | None = None
    duration: float | None = None
    size: int | None = None
    template_group_id: str | None = None
    request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class MezzanineInfo:
    """GetMezzanineInfo: the source file (Status Uploading|Normal|UploadFail|Deleted)."""

    video_id: str
    status: str | None = None
    file_url: str | None = None
    file_name: str | None = None
    size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SubmitResult:
    """What a Submit* call started: job ids (and the task id where VOD returns one)."""

    action: str
    job_ids: tuple[str, ...] = ()
    task_id: str | None = None
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "job_ids": list(self.job_ids)}
        if self.task_id:
            out["task_id"] = self.task_id
        if self.request_id:
            out["request_id"] = self.request_id
        return out


@dataclass(frozen=True)
class DeleteResult:
    """DeleteVideo: ids VOD did not find or would not delete (all missing is a 404 instead)."""

    non_exist_video_ids: tuple[str, ...] = ()
    forbidden_video_ids: tuple[str, ...] = ()
    request_id: str | None = None


@dataclass(frozen=True)
class MessageCallback:
    """GetMessageCallback for one AppId. `auth_key` is the secret: see `masked_key`."""

    app_id: str | None = None
    callback_type: str | None = None
    callback_url: str | None = None
    event_type_list: str | None = None
    auth_switch: str | None = None
    auth_key: str | None = field(default=None, repr=False)
    mns_endpoint: str | None = None
    mns_queue_name: str | None = None


# -- the client ------------------------------------------------------------------------------


@functools.cache
def _sdk_methods() -> dict[str, str]:
    """lower-case action without separators -> SDK method name (SubmitAIJob -> submit_aijob)."""
    from alibabacloud_vod20170321.client import Client

    suffix = "_with_options"
    out: dict[str, str] = {}
    for name in dir(Client):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            out[base.replace("_", "").lower()] = base
    return out


def _walk(exc: BaseException | None, depth: int = 0) -> Iterable[BaseException]:
    """The exception, its causes/contexts and exceptions held in args/reason (urllib3)."""
    if exc is None or depth > 6:
        return
    yield exc
    nested: list[Any] = [exc.__cause__, exc.__context__, getattr(exc, "reason", None)]
    nested.extend(exc.args)
    for item in nested:
        if isinstance(item, BaseException) and item is not exc:
            yield from _walk(item, depth + 1)


def _csv(value: str | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return ",".join(value)


def _json_text(value: str | Mapping[str, Any] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class VodClient:
    """Async facade over the Tea SDK client; see the module docstring for the why."""

    def __init__(
        self,
        sdk: Any,
        *,
        limits: RateLimits | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 16,
        secrets: Iterable[str] = (),
    ) -> None:
        """`sdk` is an `alibabacloud_vod20170321.client.Client` (or anything with its methods).

        Prefer `from_settings` / `connect`, which build the SDK client correctly.
        """
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._sdk = sdk
        self.limits = limits or RateLimits()
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="vod-api")
        self._slots: asyncio.Semaphore | None = None
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._closed = False

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
    ) -> VodClient:
        """The process's client: region, endpoint, credentials and QPS from settings.

        Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (/ _SECURITY_TOKEN) when set,
        otherwise the default credential chain of alibabacloud-credentials (env, OIDC/RRSA,
        CLI profile, credentials file, ECS RAM role, credentials URI). Raises ValueError on
        a bad endpoint, half a key pair or a bad vod_qps value.
        """
        secret = settings.access_key_secret
        token = settings.security_token
        return cls.connect(
            region=settings.vod_region,
            endpoint=settings.vod_endpoint,
            access_key_id=settings.access_key_id,
            access_key_secret=secret.get_secret_value() if secret else None,
            security_token=token.get_secret_value() if token else None,
            qps=settings.vod_qps,
            retry=retry,
            max_concurrency=max_concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    @classmethod
    def connect(
        cls,
        *,
        region: str = "cn-shanghai",
        endpoint: str | None = None,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        security_token: str | None = None,
        qps: Mapping[str, float] | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
    ) -> VodClient:
        """Build the SDK client (no network I/O happens here)."""
        from alibabacloud_tea_openapi import models as open_api_models
        from alibabacloud_vod20170321.client import Client

        host, protocol = parse_endpoint(endpoint)
        config = open_api_models.Config(
            region_id=region,
            endpoint=host,
            protocol=protocol,
            connect_timeout=int(connect_timeout * 1000),
            read_timeout=int(read_timeout * 1000),
            max_idle_conns=max_concurrency,  # pooled connections >= threads
            user_agent=USER_AGENT,
            # retry_options stays unset: SDK retries would sleep with time.sleep
        )
        if access_key_id or access_key_secret:
            if not (access_key_id and access_key_secret):
                raise ValueError(
                    "set both ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
                    "or neither (to use the default credential chain)"
                )
            config.access_key_id = access_key_id
            config.access_key_secret = access_key_secret
            if security_token:
                config.security_token = security_token
        else:
            from alibabacloud_credentials.client import Client as CredentialClient

            config.credential = CredentialClient()
        return cls(
            Client(config),
            limits=RateLimits(qps),
            retry=retry,
            max_concurrency=max_concurrency,
            secrets=[s for s in (access_key_secret, security_token) if s],
        )

    async def aclose(self) -> None:
        """Stop the worker threads (calls still running finish in the background)."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> VodClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<VodClient threads={self.max_concurrency} attempts={self.retry.attempts}>"

    # -- the generic call --------------------------------------------------------------------
    async def call(self, action: str, request: Any = None) -> Any:
        """Call any VOD action; returns the SDK's typed response body, never None.

        `request` is the SDK request model (e.g. `models.GetVideoInfoRequest(video_id=...)`),
        a mapping of VOD parameter names (`{"VideoId": "..."}`), or None.
        """
        method = _sdk_methods().get(action.lower())
        if method is None:
            raise VodInvalidParameter(action, "UnknownAction", "the VOD SDK has no such action")
        if request is None or isinstance(request, Mapping):
            from alibabacloud_vod20170321 import models

            request_class = getattr(models, f"{action}Request", None)
            if request_class is None:
                raise VodInvalidParameter(action, "UnknownAction", "no request model")
            request = request_class().from_map(dict(request or {}))
        send = functools.partial(getattr(self._sdk, method), request)
        response = await self._invoke(action, send)
        body = getattr(response, "body", None)
        if body is None:
            raise VodBadResponse(
                action,
                "EmptyBody",
                "the response did not match the SDK model (the SDK parsed it into nothing)",
                status=getattr(response, "status_code", None),
            )
        return body

    async def _invoke(self, action: str, send: Callable[[], Any]) -> Any:
        """One call with retries; the rate limit applies to every attempt."""
        idempotent = is_idempotent(action)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send(action, send)
            except Exception as exc:
                error = self._translate(action, exc, attempt)
                if error is None or error is exc:
                    raise
                retry_after = error.retry_after if isinstance(error, VodThrottled) else None
                if (
                    attempt >= self.retry.attempts
                    or not _worth_retrying(error, idempotent)
                    # a long Retry-After is the dispatcher's to wait out (persisted, and
                    # without holding a worker), not ours
                    or (retry_after is not None and retry_after > self.retry.cap)
                ):
                    raise error from exc
            await asyncio.sleep(self.retry.delay(attempt, retry_after))

    async def _send(self, action: str, send: Callable[[], Any]) -> Any:
        """Hold a worker thread, then take a rate token, then send at once.

        In this order a token is never taken while no thread is free: tokens taken by
        waiters and spent later in a bunch would put more calls into one second than the
        bucket allowed. The slot is released when the thread finishes, not when the caller
        stops waiting, for the same reason.
        """
        if self._closed:
            raise RuntimeError("VodClient is closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        slots = self._slots
        await slots.acquire()
        try:
            await self.limits.acquire(action)
            loop = asyncio.get_running_loop()
            future: Future[Any] = self._pool.submit(send)
        except BaseException:
            slots.release()
            raise

        def release(_: Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to release
                loop.call_soon_threadsafe(slots.release)

        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    # -- error translation -------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if len(text) > _MESSAGE_LIMIT:
            text = text[: _MESSAGE_LIMIT - 3] + "..."
        return text

    def _translate(self, action: str, exc: Exception, attempts: int) -> VodError | None:
        """SDK exception -> typed VodError; None for anything that is not from the SDK."""
        if isinstance(exc, VodError):
            return exc
        inner = getattr(exc, "inner_exception", None)
        if inner is not None and isinstance(inner, Exception):
            return self._translate_unretryable(action, inner, attempts)
        if hasattr(exc, "status_code") and hasattr(exc, "code"):
            return self._translate_response(action, exc, attempts)
        if type(exc).__name__ == "CredentialException":
            return VodAuthError(
                action, "CredentialsUnavailable", self._scrub(str(exc)), attempts=attempts
            )
        return None

    def _translate_response(self, action: str, exc: Any, attempts: int) -> VodError:
        code = _s(exc.code)
        code = code if code and code != "None" else "Unknown"
        status = exc.status_code if isinstance(exc.status_code, int) else None
        request_id = _s(getattr(exc, "request_id", None))
        if request_id == "None":
            request_id = None
        data = getattr(exc, "data", None)
        raw = data.get("Message") if isinstance(data, Mapping) else None
        message = self._scrub(str(raw if raw else (getattr(exc, "message", "") or "")))
        common: dict[str, Any] = {
            "status": status,
            "request_id": request_id,
            "attempts": attempts,
        }
        if code.startswith(_AUTH_CODES):
            return VodAuthError(action, code, message, **common)
        retry_after_ms = getattr(exc, "retry_after", None)
        if (
            code == "Throttling"
            or code.startswith("Throttling.")
            or type(exc).__name__ == "ThrottlingException"
        ):
            retry_after = retry_after_ms / 1000 if isinstance(retry_after_ms, int | float) else None
            return VodThrottled(action, code, message, retry_after=retry_after, **common)
        if status is not None and status >= 500:
            return VodServerError(action, code, message, **common)
        if code == "InvalidAction.NotFound":
            return VodInvalidParameter(action, code, message, **common)
        if status == 404 or code.endswith(".NotFound") or code in _NOT_FOUND_CODES:
            return VodNotFound(action, code, message, **common)
        if status == 403 or code.startswith(("Forbidden", "OperationDenied")):
            return VodForbidden(action, code, message, **common)
        return VodInvalidParameter(action, code, message, **common)

    def _translate_unretryable(self, action: str, inner: Exception, attempts: int) -> VodError:
        if hasattr(inner, "status_code") and hasattr(inner, "code"):
            return self._translate_response(action, inner, attempts)
        name = type(inner).__name__
        text = getattr(inner, "message", None) or str(inner)
        message = self._scrub(str(text))
        if name == "CredentialException":
            return VodAuthError(action, "CredentialsUnavailable", message, attempts=attempts)
        if name == "RetryError":  # the SDK's wrapper for every IOError of the transport
            names = {type(e).__name__ for e in _walk(inner.__context__)}
            if names & _CONNECT_ERRORS:
                return VodTransportError(
                    action, "ConnectError", message, maybe_sent=False, attempts=attempts
                )
            if names & _READ_TIMEOUTS:
                return VodTransportError(action, "ReadTimeout", message, attempts=attempts)
            return VodTransportError(action, "ConnectionError", message, attempts=attempts)
        if name == "RuntimeError" and "json" in message.lower():
            return VodBadResponse(action, "UnparseableResponse", message, attempts=attempts)
        return VodTransportError(action, name, message, attempts=attempts)

    # -- typed convenience methods -----------------------------------------------------------
    async def get_play_info(
        self,
        video_id: str,
        *,
        formats: str | Sequence[str] | None = None,
        definition: str | Sequence[str] | None = None,
        stream_type: str | None = None,
        output_type: str | None = None,
        auth_timeout: int | None = None,
        result_type: str | None = None,
    ) -> PlayInfo:
        """GetPlayInfo (QPS 360). Only Normal videos play: others raise VodForbidden."""
        from alibabacloud_vod20170321 import models

        request = models.GetPlayInfoRequest(
            video_id=video_id,
            formats=_csv(formats),
            definition=_csv(definition),
            stream_type=stream_type,
            output_type=output_type,
            auth_timeout=auth_timeout,
            result_type=result_type,
        )
        body = await self.call("GetPlayInfo", request)
        infos = getattr(body.play_info_list, "play_info", None) if body.play_info_list else None
        if infos is None:
            raise VodBadResponse("GetPlayInfo", "EmptyBody", "PlayInfoList missing")
        streams = tuple(
            PlayStream(
                url=str(p.play_url or ""),
                definition=_s(p.definition),
                format=_s(p.format),
                stream_type=_s(p.stream_type),
                bitrate=_f(p.bitrate),
                size=_i(p.size),
                duration=_f(p.duration),
                width=_i(p.width),
                height=_i(p.height),
                fps=_f(p.fps),
                encrypt=None if p.encrypt is None else bool(_i(p.encrypt)),
                encrypt_type=_s(p.encrypt_type),
                codec_name=_s(p.codec_name),
                status=_s(p.status),
                job_id=_s(p.job_id),
                creation_time=_s(p.creation_time),
            )
            for p in infos
        )
        base = body.video_base
        return PlayInfo(
            video_id=_s(base.video_id) or video_id if base else video_id,
            streams=streams,
            title=_s(base.title) if base else None,
            status=_s(base.status) if base else None,
            duration=_f(base.duration) if base else None,
            cover_url=_s(base.cover_url) if base else None,
            request_id=_s(body.request_id),
        )

    async def get_video_info(self, video_id: str) -> VideoInfo:
        """GetVideoInfo (QPS 100): status, cover, VOD's cover snapshots, tags, AppId."""
        from alibabacloud_vod20170321 import models

        body = await self.call("GetVideoInfo", models.GetVideoInfoRequest(video_id=video_id))
        video = body.video
        if video is None:
            raise VodBadResponse("GetVideoInfo", "EmptyBody", "Video missing")
        snapshots = getattr(video.snapshots, "snapshot", None) if video.snapshots else None
        tags = [t.strip() for t in (video.tags or "").split(",") if t.strip()]
        return VideoInfo(
            video_id=_s(video.video_id) or video_id,
            status=_s(video.status),
            title=_s(video.title),
            cover_url=_s(video.cover_url),
            snapshots=tuple(str(u) for u in snapshots or ()),
            tags=tuple(tags),
            app_id=_s(video.app_id),
            audit_status=_s(video.audit_status),
            duration=_f(video.duration),
            size=_i(video.size),
            template_group_id=_s(video.template_group_id),
            request_id=_s(body.request_id),
            raw=_map(video),
        )

    async def get_mezzanine_info(
        self,
        video_id: str,
        *,
        output_type: str | None = None,
        auth_timeout: int | None = None,
        addition_type: str | None = None,
    ) -> MezzanineInfo:
        """GetMezzanineInfo (QPS 100): the source file and its status."""
        from alibabacloud_vod20170321 import models

        request = models.GetMezzanineInfoRequest(
            video_id=video_id,
            output_type=output_type,
            auth_timeout=auth_timeout,
            addition_type=addition_type,
        )
        body = await self.call("GetMezzanineInfo", request)
        mezzanine = body.mezzanine
        if mezzanine is None:
            raise VodBadResponse("GetMezzanineInfo", "EmptyBody", "Mezzanine missing")
        return MezzanineInfo(
            video_id=_s(mezzanine.video_id) or video_id,
            status=_s(mezzanine.status),
            file_url=_s(mezzanine.file_url),
            file_name=_s(mezzanine.file_name),
            size=_i(mezzanine.size),
            duration=_f(mezzanine.duration),
            width=_i(mezzanine.width),
            height=_i(mezzanine.height),
            request_id=_s(body.request_id),
            raw=_map(mezzanine),
        )

    async def update_video_info(
        self,
        video_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: str | Sequence[str] | None = None,
        cover_url: str | None = None,
        cate_id: int | None = None,
        user_data: str | Mapping[str, Any] | None = None,
    ) -> str | None:
        """UpdateVideoInfo (QPS 100): only the fields given change. Returns the RequestId."""
        from alibabacloud_vod20170321 import models

        request = models.UpdateVideoInfoRequest(
            video_id=video_id,
            title=title,
            description=description,
            tags=_csv(tags),
            cover_url=cover_url,
            cate_id=cate_id,
            user_data=_json_text(user_data),
        )
        body = await self.call("UpdateVideoInfo", request)
        return _s(body.request_id)

    async def submit_workflow_job(
        self, workflow_id: str, media_id: str | None = None
    ) -> SubmitResult:
        """SubmitWorkflowJob (QPS 20). Not idempotent: see RetryPolicy."""
        from alibabacloud_vod20170321 import models

        request = models.SubmitWorkflowJobRequest(workflow_id=workflow_id, media_id=media_id)
        body = await self.call("SubmitWorkflowJob", request)
        task_id = _s(getattr(body, "task_id", None))
        return SubmitResult(
            "SubmitWorkflowJob",
            job_ids=(task_id,) if task_id else (),
            task_id=task_id,
            request_id=_s(body.request_id),
        )

    async def submit_transcode_jobs(
        self,
        video_id: str,
        template_group_id: str,
        *,
        pipeline_id: str | None = None,
        priority: int | None = None,
        override_params: str | Mapping[str, Any] | None = None,
        user_data: str | Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """SubmitTranscodeJobs (QPS 30). HLS adaptive packaging returns no job list."""
        from alibabacloud_vod20170321 import models

        request = models.SubmitTranscodeJobsRequest(
            video_id=video_id,
            template_group_id=template_group_id,
            pipeline_id=pipeline_id,
            priority=None if priority is None else str(priority),
            override_params=_json_text(override_params),
            user_data=_json_text(user_data),
        )
        body = await self.call("SubmitTranscodeJobs", request)
        jobs = getattr(body.transcode_jobs, "transcode_job", None) if body.transcode_jobs else None
        task_id = _s(body.transcode_task_id)
        if task_id is None and jobs is None:
            raise VodBadResponse("SubmitTranscodeJobs", "EmptyBody", "no task id and no jobs")
        return SubmitResult(
            "SubmitTranscodeJobs",
            job_ids=tuple(str(j.job_id) for j in jobs or () if j.job_id),
            task_id=task_id,
            request_id=_s(body.request_id),
        )

    async def submit_snapshot_job(
        self,
        video_id: str,
        *,
        count: int | None = None,
        interval: int | None = None,
        specified_offset_time: int | None = None,
        width: int | None = None,
        height: int | None = None,
        snapshot_template_id: str | None = None,
        sprite_snapshot_config: str | Mapping[str, Any] | None = None,
        user_data: str | Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """SubmitSnapshotJob (QPS 30); the result arrives as SnapshotComplete/SpecifiedTime."""
        from alibabacloud_vod20170321 import models

        request = models.SubmitSnapshotJobRequest(
            video_id=video_id,
            count=count,
            interval=interval,
            specified_offset_time=specified_offset_time,
            width=None if width is None else str(width),
            height=None if height is None else str(height),
            snapshot_template_id=snapshot_template_id,
            sprite_snapshot_config=_json_text(sprite_snapshot_config),
            user_data=_json_text(user_data),
        )
        body = await self.call("SubmitSnapshotJob", request)
        job_id = _s(getattr(body.snapshot_job, "job_id", None)) if body.snapshot_job else None
        if job_id is None:
            raise VodBadResponse("SubmitSnapshotJob", "EmptyBody", "SnapshotJob.JobId missing")
        return SubmitResult("SubmitSnapshotJob", job_ids=(job_id,), request_id=_s(body.request_id))

    async def submit_ai_job(
        self,
        media_id: str,
        types: str | Sequence[str],
        *,
        config: str | Mapping[str, Any] | None = None,
        user_data: str | Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """SubmitAIJob (QPS 30): Types AIMediaDNA and/or AIVideoTag."""
        from alibabacloud_vod20170321 import models

        request = models.SubmitAIJobRequest(
            media_id=media_id,
            types=_csv(types),
            config=_json_text(config),
            user_data=_json_text(user_data),
        )
        body = await self.call("SubmitAIJob", request)
        jobs = getattr(body.aijob_list, "aijob", None) if body.aijob_list else None
        if jobs is None:
            raise VodBadResponse("SubmitAIJob", "EmptyBody", "AIJobList missing")
        return SubmitResult(
            "SubmitAIJob",
            job_ids=tuple(str(j.job_id) for j in jobs if j.job_id),
            request_id=_s(body.request_id),
        )

    async def submit_ai_media_audit_job(
        self,
        media_id: str,
        *,
        template_id: str | None = None,
        media_type: str | None = None,
        media_audit_configuration: str | Mapping[str, Any] | None = None,
        user_data: str | Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """SubmitAIMediaAuditJob (QPS 15); the result arrives as AIMediaAuditComplete."""
        from alibabacloud_vod20170321 import models

        request = models.SubmitAIMediaAuditJobRequest(
            media_id=media_id,
            template_id=template_id,
            media_type=media_type,
            media_audit_configuration=_json_text(media_audit_configuration),
            user_data=_json_text(user_data),
        )
        body = await self.call("SubmitAIMediaAuditJob", request)
        job_id = _s(body.job_id)
        if job_id is None:
            raise VodBadResponse("SubmitAIMediaAuditJob", "EmptyBody", "JobId missing")
        return SubmitResult(
            "SubmitAIMediaAuditJob", job_ids=(job_id,), request_id=_s(body.request_id)
        )

    async def create_audit(
        self,
        video_id: str,
        status: Literal["Normal", "Blocked"],
        reason: str | None = None,
    ) -> str | None:
        """CreateAudit (QPS 100): a manual review result; Blocked makes the video unplayable."""
        from alibabacloud_vod20170321 import models

        item: dict[str, str] = {"VideoId": video_id, "Status": status}
        if reason:
            item["Reason"] = reason
        request = models.CreateAuditRequest(audit_content=_json_text_list([item]))
        body = await self.call("CreateAudit", request)
        return _s(body.request_id)

    async def delete_video(self, video_ids: str | Sequence[str]) -> DeleteResult:
        """DeleteVideo (QPS 30): source, streams and snapshots; <= 20 ids per call."""
        from alibabacloud_vod20170321 import models

        body = await self.call("DeleteVideo", models.DeleteVideoRequest(video_ids=_csv(video_ids)))
        return DeleteResult(
            non_exist_video_ids=tuple(body.non_exist_video_ids or ()),
            forbidden_video_ids=tuple(body.forbidden_video_ids or ()),
            request_id=_s(body.request_id),
        )

    async def set_message_callback(
        self,
        *,
        callback_type: Literal["HTTP", "MNS"] = "HTTP",
        callback_url: str | None = None,
        auth_key: str | None = None,
        auth_switch: Literal["on", "off"] | None = None,
        event_type_list: str | None = None,
        mns_endpoint: str | None = None,
        mns_queue_name: str | None = None,
        app_id: str | None = None,
    ) -> str | None:
        """SetMessageCallback (QPS 15): where VOD sends event notifications for one app."""
        from alibabacloud_vod20170321 import models

        request = models.SetMessageCallbackRequest(
            callback_type=callback_type,
            callback_url=callback_url,
            auth_key=auth_key,
            auth_switch=auth_switch,
            event_type_list=event_type_list,
            mns_endpoint=mns_endpoint,
            mns_queue_name=mns_queue_name,
            app_id=app_id,
        )
        body = await self.call("SetMessageCallback", request)
        return _s(body.request_id)

    async def get_message_callback(self, app_id: str | None = None) -> MessageCallback | None:
        """GetMessageCallback (QPS 10); None when the app has no callback configured."""
        from alibabacloud_vod20170321 import models

        request = models.GetMessageCallbackRequest(app_id=app_id)
        body = await self.call("GetMessageCallback", request)
        mc = body.message_callback
        if mc is None:
            return None
        return MessageCallback(
            app_id=_s(mc.app_id),
            callback_type=_s(mc.callback_type),
            callback_url=_s(mc.callback_url),
            event_type_list=_s(mc.event_type_list),
            auth_switch=_s(mc.auth_switch),
            auth_key=_s(mc.auth_key),
            mns_endpoint=_s(mc.mns_endpoint),
            mns_queue_name=_s(mc.mns_queue_name),
        )

    async def delete_message_callback(self, app_id: str | None = None) -> str | None:
        """DeleteMessageCallback (QPS 10): VOD stops sending notifications for the app."""
        from alibabacloud_vod20170321 import models

        request = models.DeleteMessageCallbackRequest(app_id=app_id)
        body = await self.call("DeleteMessageCallback", request)
        return _s(body.request_id)


def _json_text_list(items: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


def _worth_retrying(error: VodError, idempotent: bool) -> bool:
    """Throttled calls were not executed; for the rest, only idempotent calls are repeated,
    except a connection that was never established (nothing reached VOD)."""
    if isinstance(error, VodThrottled):
        return True
    if isinstance(error, VodTransportError):
        return idempotent or not error.maybe_sent
    if isinstance(error, VodServerError):
        return idempotent
    return False
