"""`forward`: POST each event to your own endpoint, signed per Standard Webhooks.

Why: most systems want "a video is ready, here are its URLs" pushed to them, without running
vodhook code. This sends the normalized event, plus the play URLs when `play_info` ran
earlier for the event, to `url`, signed the way the Standard Webhooks libraries verify
(https://www.standardwebhooks.com/, available for most languages):

    [[chains]]
    on = ["TranscodeComplete"]
    status = "success"
    run = ["play_info", { handler = "forward", url = "https://example.com/hooks/vod",
                          secret_env = "VODHOOK_FORWARD_SECRET" }]

Request: `POST url` with `content-type: application/json` and
* `webhook-id`: `msg_` + 32 hex chars of SHA-256 of the event's dedup key, the same for
  every retry and replay of one event (and for the same event received twice), so the
  receiver can drop duplicates;
* `webhook-timestamp`: Unix seconds of this attempt;
* `webhook-signature`: `v1,` + base64 HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`
  keyed with the base64-decoded secret (the part after `whsec_`).
Body:

    {"type": "TranscodeComplete", "timestamp": "2024-05-06T09:49:33Z",
     "data": {"event": {...VOD's fields, normalized...},
              "play_info": {...the play_info result, when present...},
              "vodhook": {"event_id": 12, "dedup_key": "..."}}}

Options:
* `url` (required): http(s) address;
* `secret_env`: name of the environment variable holding the `whsec_...` secret
  (preferred), or `secret`: the secret itself (note that `vodhook routes` prints chain
  options, so a secret written into the TOML file is shown there);
* `include`: names of earlier results to add to `data` (default ["play_info"]);
* `timeout`: seconds per attempt (default 10);
* `headers`: table of extra request headers.

Outcome: 2xx is success (result `{"status": 200, "webhook_id": ...}`); 4xx other than 408
and 429 is permanent (dead-letter at once: the receiver rejects this event); any other
answer and every network error is retryable (the dispatcher retries with backoff).
Runs only if `verify_with_api` passed when a chain puts it first (see handlers/guard.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import time
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson

from handlers import router
from handlers.guard import ensure_guard_passed, opt_float, opt_list, opt_str
from receiver import HandlerContext, PermanentError, RetryableError
from receiver.events import VodEvent, dedup_key

USER_AGENT: Final = "vodhook/0.1.0"
SECRET_PREFIX: Final = "whsec_"
_RETRY_4XX: Final = frozenset({408, 429})

# One connection pool per event loop: building an httpx client per call would redo the TLS
# setup (tens of ms of CPU) every time.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(follow_redirects=False, headers={"user-agent": USER_AGENT})
        _CLIENTS[loop] = client
    return client


def webhook_id(event: VodEvent) -> str:
    """Stable message id: the same logical event always gets the same id."""
    return "msg_" + hashlib.sha256(dedup_key(event).encode()).hexdigest()[:32]


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` (prefix optional) -> key bytes; ValueError when not base64."""
    text = secret.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret must be whsec_ followed by base64") from exc
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode()


def _where(url: str) -> str:
    """scheme://host/path: error messages must not repeat a token carried in the query."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _secret(ctx: HandlerContext) -> bytes:
    secret = opt_str(ctx, "secret")
    env_name = opt_str(ctx, "secret_env")
    if secret is None and env_name:
        secret = os.environ.get(env_name)
        if not secret:
            raise PermanentError(f"forward: environment variable {env_name} is not set")
    if not secret:
        raise PermanentError("forward: set option secret_env (or secret) to a whsec_ secret")
    try:
        return decode_secret(secret)
    except ValueError as exc:
        raise PermanentError(f"forward: {exc}") from None


def _headers(ctx: HandlerContext) -> dict[str, str]:
    extra = ctx.options.get("headers", {})
    if not isinstance(extra, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        raise PermanentError("forward: option 'headers' must be a table of strings")
    return dict(extra)


def build_payload(ctx: HandlerContext, include: list[str]) -> dict[str, Any]:
    event = ctx.event
    when = event.event_time or datetime.now(UTC)
    data: dict[str, Any] = {"event": event.model_dump(by_alias=True, mode="json")}
    for name in include:
        if name in ctx.results and ctx.results[name] is not None:
            data[name] = ctx.results[name]
    data["vodhook"] = {"event_id": ctx.event_id, "dedup_key": dedup_key(event)}
    return {
        "type": event.event_type,
        "timestamp": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
    }


@router.handler("forward")
async def forward(ctx: HandlerContext) -> dict[str, Any]:
    """POST the signed event; see the module docstring."""
    url = opt_str(ctx, "url")
    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        raise PermanentError("forward: option 'url' must be an http(s) URL")
    key = _secret(ctx)
    timeout = opt_float(ctx, "timeout", 10.0)
    include = opt_list(ctx, "include", ["play_info"])
    extra = _headers(ctx)
    ensure_guard_passed(ctx)
    body = orjson.dumps(build_payload(ctx, include))
    msg_id = webhook_id(ctx.event)
    timestamp = int(time.time())
    headers = {
        **extra,
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
    }
    where = _where(url)
    try:
        response = await _client().post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RetryableError(f"forward: POST {where} failed: {type(exc).__name__}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return {"status": status, "webhook_id": msg_id, "url": where}
    if 400 <= status < 500 and status not in _RETRY_4XX:
        raise PermanentError(f"forward: {where} rejected the event with HTTP {status}")
    raise RetryableError(f"forward: {where} answered HTTP {status}")
