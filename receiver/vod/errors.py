"""Typed VOD API errors that tell the dispatcher what to do next.

The Tea SDK raises ClientException / ServerException / ThrottlingException (sorted by HTTP
status, so a 503 Throttling is a ServerException) or UnretryableException wrapping whatever
the transport raised. Handlers should not need to know any of that: each error here is either
a PermanentError (retrying cannot help: the event goes to the dead-letter store at once) or a
RetryableError (the dispatcher retries the event later, within its attempt and age budget),
and carries VOD's error code.

Every error has `.action`, `.code`, `.status`, `.request_id` and a short message; its str is
"<Action>: <Code> (HTTP <status>): <message> [RequestId <id>]", so dead-letter reasons and
logs show VOD's code. Messages are scrubbed of the AccessKey secret and STS token by the
client before an error is built, and the raw SDK exception (which can carry the whole error
body) never goes into the str.
"""

from __future__ import annotations

from receiver.errors import PermanentError, RetryableError

__all__ = [
    "VodAuthError",
    "VodBadResponse",
    "VodError",
    "VodForbidden",
    "VodInvalidParameter",
    "VodNotFound",
    "VodPermanentError",
    "VodRetryableError",
    "VodServerError",
    "VodThrottled",
    "VodTransportError",
]


class VodError(Exception):
    """A failed VOD API call. Not raised itself: see the subclasses."""

    def __init__(
        self,
        action: str,
        code: str,
        message: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.action = action
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        #: how many times the client sent (or tried to send) the call before giving up
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        message = f": {self.message}" if self.message else ""
        request = f" [RequestId {self.request_id}]" if self.request_id else ""
        return f"{self.action}: {self.code}{status}{message}{request}"

    def __str__(self) -> str:
        return self._describe()


class VodPermanentError(VodError, PermanentError):
    """VOD refused the request for a reason a retry cannot change."""


class VodRetryableError(VodError, RetryableError):
    """VOD or the network failed in a way that may pass."""


class VodNotFound(VodPermanentError):
    """The media, file, stream or job does not exist (InvalidVideo.NotFound, NoSuchResource,
    InvalidVideo.NoneStream, ...)."""


class VodForbidden(VodPermanentError):
    """Not allowed in the media's current state or for this account (Forbidden.IllegalStatus,
    which VOD sends as 403 or 400 depending on the action; Forbidden; OperationDenied)."""


class VodInvalidParameter(VodPermanentError):
    """The request itself is wrong (InvalidParameter, MissingParameter, LengthExceededMax,
    ...): every other 4xx."""


class VodThrottled(VodRetryableError):
    """Throttling / Throttling.User / Throttling.Api. `retry_after` (seconds) comes from the
    x-acs-retry-after header when VOD sent one."""

    def __init__(
        self,
        action: str,
        code: str,
        message: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            action, code, message, status=status, request_id=request_id, attempts=attempts
        )


class VodServerError(VodRetryableError):
    """5xx from VOD (InternalError, ServiceUnAvailable, DeleteVideoFailed, ...)."""


class VodTransportError(VodRetryableError):
    """No usable HTTP answer: connection refused or reset, timeout, unreadable response.

    `maybe_sent` is False only when the request certainly never reached VOD (the connection
    was never established); after a read timeout or a reset VOD may have acted on it, which
    matters for non-idempotent calls such as Submit*.
    """

    def __init__(
        self,
        action: str,
        code: str,
        message: str = "",
        *,
        maybe_sent: bool = True,
        attempts: int = 1,
    ) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(action, code, message, attempts=attempts)


class VodAuthError(VodRetryableError):
    """VOD did not accept the credentials (SignatureDoesNotMatch, InvalidAccessKeyId.*,
    InvalidSecurityToken.*, a clock too far off, no credentials found).

    Retryable on purpose: the fault is in the deployment, not in the event, so events are
    kept (retrying with backoff) while someone fixes the keys, instead of all dead-lettering.
    """


class VodBadResponse(VodRetryableError):
    """VOD answered 200 but the body did not parse into the SDK's model (the SDK then returns
    an empty body without raising) or was not JSON at all. Not retried by the client, since an
    immediate retry gets the same answer; the dispatcher retries the event later."""
