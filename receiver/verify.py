"""VOD callback authentication: X-VOD-SIGNATURE = md5("{url}|{timestamp}|{AuthKey}").

Checks are small composable callables (django-anymail style) so that another source can
reuse the window check with its own signature scheme, and so that one shared security
test-suite can run against every verifier. VOD signs only the URL and the time, never the
body: see the README's security notes and the `verify_with_api` guard.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

TIMESTAMP_HEADER = "x-vod-timestamp"
SIGNATURE_HEADER = "x-vod-signature"


class VerificationError(Exception):
    """Why a delivery was refused; `reason` is a stable code used in metrics and responses."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of an HTTP delivery that authentication looks at (never the body)."""

    url: str
    timestamps: tuple[str, ...]
    signatures: tuple[str, ...]


class Check(Protocol):
    def __call__(self, request: SignedRequest, now: float) -> None: ...


def vod_signature(url: str, timestamp: str, key: str) -> str:
    """The signature VOD sends, in lower-case hex."""
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode()).hexdigest()


def require_headers(request: SignedRequest, now: float) -> None:
    """Exactly one timestamp and one signature header: duplicates are ambiguous, so refused."""
    if not request.timestamps or not request.signatures:
        raise VerificationError(
            "missing_headers", "X-VOD-TIMESTAMP and X-VOD-SIGNATURE headers are required"
        )
    if len(request.timestamps) > 1 or len(request.signatures) > 1:
        raise VerificationError(
            "missing_headers", "X-VOD-TIMESTAMP and X-VOD-SIGNATURE must each appear once"
        )


class TimestampWindow:
    """Two-sided window: a timestamp from the future is as suspicious as a stale one."""

    def __init__(self, window_seconds: int) -> None:
        self.window = window_seconds

    def __call__(self, request: SignedRequest, now: float) -> None:
        raw = request.timestamps[0]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
            raise VerificationError(
                "stale_timestamp", "X-VOD-TIMESTAMP must be unix seconds (digits only)"
            )
        if abs(now - int(raw)) > self.window:
            raise VerificationError(
                "stale_timestamp",
                f"X-VOD-TIMESTAMP is more than {self.window} s away from the server clock",
            )


class SignatureMatches:
    """Accept any configured key against any configured URL (rotation, proxies, overrides).

    With no URLs configured the URL as received is used; behind a TLS-terminating proxy that
    is usually wrong, which is why VODHOOK_CALLBACK_URLS exists.
    """

    def __init__(self, keys: Iterable[str], urls: Sequence[str] = ()) -> None:
        self.keys = [k for k in keys if k]
        self.urls = list(urls)

    def __call__(self, request: SignedRequest, now: float) -> None:
        given = request.signatures[0].strip().lower()
        if len(given) != 32 or not given.isascii():
            raise VerificationError("bad_signature", "X-VOD-SIGNATURE is not a 32-hex MD5")
        timestamp = request.timestamps[0]
        matched = False
        # Compare every candidate, without an early exit, so that timing says nothing
        # about which key or URL came close.
        for url in self.urls or (request.url,):
            for key in self.keys:
                matched |= hmac.compare_digest(vod_signature(url, timestamp, key), given)
        if not matched:
            raise VerificationError(
                "bad_signature", "X-VOD-SIGNATURE does not match any configured AuthKey and URL"
            )


class Verifier:
    """Runs checks in order; the first failure wins. An empty list means auth is off."""

    def __init__(self, checks: Sequence[Check], clock: Callable[[], float] = time.time) -> None:
        self.checks = tuple(checks)
        self.clock = clock

    def verify(self, request: SignedRequest) -> None:
        now = self.clock()
        for check in self.checks:
            check(request, now)

    @property
    def enabled(self) -> bool:
        return bool(self.checks)

    @property
    def needs_request_url(self) -> bool:
        """False when every signature check has its own URLs: the hot path skips building one."""
        return any(isinstance(c, SignatureMatches) and not c.urls for c in self.checks)


def vod_verifier(
    keys: Iterable[str],
    urls: Sequence[str] = (),
    window_seconds: int = 300,
    clock: Callable[[], float] = time.time,
) -> Verifier:
    """The standard VOD chain: headers present, inside the window, signature matches."""
    return Verifier(
        [require_headers, TimestampWindow(window_seconds), SignatureMatches(keys, urls)], clock
    )
