"""Calling the VOD OpenAPI: one rate-limited, retrying client per process (`ctx.vod`).

Importing this package does not import the Tea SDK (about 0.4 s); the client imports it
when it is built, so CLI commands that never call VOD stay fast.
"""

from receiver.vod.client import (
    DeleteResult,
    MessageCallback,
    MezzanineInfo,
    PlayInfo,
    PlayStream,
    RetryPolicy,
    SubmitResult,
    VideoInfo,
    VodClient,
    is_idempotent,
    parse_endpoint,
)
from receiver.vod.errors import (
    VodAuthError,
    VodBadResponse,
    VodError,
    VodForbidden,
    VodInvalidParameter,
    VodNotFound,
    VodPermanentError,
    VodRetryableError,
    VodServerError,
    VodThrottled,
    VodTransportError,
)
from receiver.vod.qps import DEFAULT_QPS
from receiver.vod.ratelimit import RateLimits

__all__ = [
    "DEFAULT_QPS",
    "DeleteResult",
    "MessageCallback",
    "MezzanineInfo",
    "PlayInfo",
    "PlayStream",
    "RateLimits",
    "RetryPolicy",
    "SubmitResult",
    "VideoInfo",
    "VodAuthError",
    "VodBadResponse",
    "VodClient",
    "VodError",
    "VodForbidden",
    "VodInvalidParameter",
    "VodNotFound",
    "VodPermanentError",
    "VodRetryableError",
    "VodServerError",
    "VodThrottled",
    "VodTransportError",
    "is_idempotent",
    "parse_endpoint",
]
