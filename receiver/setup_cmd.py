"""`vodhook setup`: tell VOD where to send event notifications (Set/Get/DeleteMessageCallback).

Why a command: the console form is per region and per app and easy to get subtly wrong (an
AuthKey VOD rejects, an AuthKey the receiver does not know, AI events that must be named
"AIComplete"). These commands check all that before anything is sent, use the same settings
and credentials as `vodhook serve`, and never print an AuthKey in full.

    vodhook setup http --url https://hooks.example.com/callback      # key from VODHOOK_AUTH_KEYS
    vodhook setup mns --endpoint https://123.mns.cn-shanghai.aliyuncs.com/ --queue vod-events
    vodhook setup show
    vodhook setup off

The integrator attaches the group to the main CLI with `main.add_command(setup)`; settings
come from `ctx.obj["config"]` (the --config option) like every other command.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import orjson

from receiver.settings import Settings, load_settings

T = TypeVar("T")

AUTH_KEY_MAX = 32
CALLBACK_URL_MAX_BYTES = 256
AI_EVENTS = "AIComplete"  # VOD subscribes to every AI* event under this one name


def auth_key_problem(key: str) -> str | None:
    """VOD's AuthKey rule (SetMessageCallback): at most 32 characters, with upper-case and
    lower-case letters and digits. Returns what is wrong, or None."""
    problems = []
    if len(key) > AUTH_KEY_MAX:
        problems.append(f"longer than {AUTH_KEY_MAX} characters")
    if not re.search(r"[A-Z]", key):
        problems.append("no upper-case letter")
    if not re.search(r"[a-z]", key):
        problems.append("no lower-case letter")
    if not re.search(r"[0-9]", key):
        problems.append("no digit")
    return ", ".join(problems) or None


def mask(key: str | None) -> str:
    """A key for display: first and last 2 characters (1 for short keys, none for tiny)."""
    if not key:
        return "-"
    show = 2 if len(key) >= 12 else 1 if len(key) >= 8 else 0
    return f"{key[:show]}****{key[-show:] if show else ''}"


def normalize_events(text: str) -> tuple[str, list[str]]:
    """`ALL` or a comma list -> VOD's EventTypeList, plus notes on what was changed.

    Names are matched case-insensitively against the documented event types; AI events
    (AIMediaAuditComplete, ...) become "AIComplete", the only name VOD accepts for them.
    """
    from receiver.events import EVENT_TYPES  # ~0.1 s of pydantic models: only when needed

    if text.strip().upper() == "ALL":
        return "ALL", []
    known = {name.lower(): name for name in (*EVENT_TYPES, "AIVideoCensorComplete", AI_EVENTS)}
    out: list[str] = []
    notes: list[str] = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        name = known.get(raw.lower())
        if name is None:
            raise click.BadParameter(
                f"unknown event type {raw!r}; use ALL or names from: "
                + ", ".join(sorted({*EVENT_TYPES, AI_EVENTS})),
                param_hint="--events",
            )
        if name.startswith("AI") and name != AI_EVENTS:
            notes.append(f"{name} is subscribed as {AI_EVENTS} (VOD groups all AI events)")
            name = AI_EVENTS
        if name not in out:
            out.append(name)
    if not out:
        raise click.BadParameter("no event types given", param_hint="--events")
    return ",".join(out), notes


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj or {}
    try:
        return load_settings(obj.get("config") if isinstance(obj, dict) else None)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Build the VOD client inside the loop, run `work(client)`, map errors for the shell."""
    from receiver.vod import VodClient, VodError

    async def main() -> T:
        client = VodClient.from_settings(settings)
        try:
            return await work(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except VodError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # bad endpoint, half a key pair, bad vod_qps
        raise click.ClickException(str(exc)) from exc


def _describe(mc: Any, app_id: str | None) -> dict[str, Any]:
    if mc is None:
        return {"app_id": app_id or "app-1000000", "configured": False}
    out: dict[str, Any] = {
        "app_id": mc.app_id or app_id or "app-1000000",
        "configured": True,
        "callback_type": mc.callback_type,
        "event_type_list": mc.event_type_list,
    }
    if (mc.callback_type or "").upper() == "MNS":
        out["mns_endpoint"] = mc.mns_endpoint
        out["mns_queue_name"] = mc.mns_queue_name
    else:
        out["callback_url"] = mc.callback_url
        out["auth_switch"] = mc.auth_switch
        out["auth_key"] = mask(mc.auth_key)
    return out


def _print(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return
    if not info["configured"]:
        click.echo(f"app {info['app_id']}: no event notification configured")
        return
    labels = {
        "app_id": "app",
        "callback_type": "type",
        "event_type_list": "events",
        "callback_url": "url",
        "auth_switch": "auth",
        "auth_key": "auth key",
        "mns_endpoint": "mns endpoint",
        "mns_queue_name": "mns queue",
    }
    for key, label in labels.items():
        if key in info:
            shown = info[key] if info[key] not in (None, "") else "-"
            click.echo(f"{label + ':':<14}{shown}")


def _warn(text: str) -> None:
    click.echo(f"warning: {text}", err=True)


app_id_option = click.option(
    "--app-id", default=None, help="VOD application [default: VOD's default app-1000000]."
)
events_option = click.option(
    "--events",
    default="ALL",
    show_default=True,
    help="ALL, or comma-separated event types (AI events subscribe as AIComplete).",
)


@click.group()
def setup() -> None:
    """Configure where VOD sends event notifications (SetMessageCallback)."""


@setup.command("http")
@click.option("--url", required=True, help="Callback URL VOD POSTs to (<= 256 bytes).")
@click.option(
    "--auth-key",
    default=None,
    help="AuthKey VOD signs callbacks with [default: the first of VODHOOK_AUTH_KEYS].",
)
@click.option("--no-auth", is_flag=True, help="Let VOD send unsigned callbacks (testing only).")
@events_option
@app_id_option
@click.pass_context
def setup_http(
    ctx: click.Context,
    url: str,
    auth_key: str | None,
    no_auth: bool,
    events: str,
    app_id: str | None,
) -> None:
    """Send events to URL as signed HTTP callbacks."""
    settings = _settings(ctx)
    if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--url")
    if len(url.encode()) > CALLBACK_URL_MAX_BYTES:
        raise click.BadParameter(
            f"VOD accepts at most {CALLBACK_URL_MAX_BYTES} bytes", param_hint="--url"
        )
    configured = [k.get_secret_value() for k in settings.auth_keys]
    if no_auth:
        if auth_key:
            raise click.UsageError("--auth-key and --no-auth exclude each other")
        key = None
        if settings.auth == "on":
            _warn("VOD will send unsigned callbacks, which vodhook rejects unless VODHOOK_AUTH=off")
    else:
        key = auth_key or (configured[0] if configured else None)
        if key is None:
            raise click.UsageError(
                "no AuthKey: pass --auth-key or set VODHOOK_AUTH_KEYS (or --no-auth for tests)"
            )
        problem = auth_key_problem(key)
        if problem:
            raise click.BadParameter(
                f"VOD needs <= {AUTH_KEY_MAX} characters with upper-case and lower-case "
                f"letters and digits; this key ({mask(key)}) has {problem}",
                param_hint="--auth-key",
            )
        if configured and key not in configured:
            _warn(
                f"AuthKey {mask(key)} is not in VODHOOK_AUTH_KEYS: this receiver would "
                "reject VOD's callbacks"
            )
    _apply(
        settings,
        events,
        app_id,
        "as HTTP callbacks",
        callback_type="HTTP",
        callback_url=url,
        auth_key=key,
        auth_switch="on" if key else "off",
    )


@setup.command("mns")
@click.option("--endpoint", default=None, help="MNS endpoint [default: VODHOOK_MNS_ENDPOINT].")
@click.option("--queue", default=None, help="MNS queue name [default: VODHOOK_MNS_QUEUE].")
@events_option
@app_id_option
@click.pass_context
def setup_mns(
    ctx: click.Context,
    endpoint: str | None,
    queue: str | None,
    events: str,
    app_id: str | None,
) -> None:
    """Send events into an MNS queue (what `vodhook poll` reads)."""
    settings = _settings(ctx)
    endpoint = endpoint or settings.mns_endpoint
    queue = queue or settings.mns_queue
    if not endpoint or not queue:
        raise click.UsageError("give --endpoint and --queue (or VODHOOK_MNS_ENDPOINT/_QUEUE)")
    if urlsplit(endpoint).scheme.lower() not in ("http", "https"):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--endpoint")
    _apply(
        settings,
        events,
        app_id,
        "into MNS",
        callback_type="MNS",
        mns_endpoint=endpoint,
        mns_queue_name=queue,
    )


def _apply(settings: Settings, events: str, app_id: str | None, how: str, **callback: Any) -> None:
    """SetMessageCallback, then read it back (GetMessageCallback) and show what VOD has."""
    event_list, notes = normalize_events(events)
    for note in notes:
        _warn(note)

    async def work(client: Any) -> Any:
        await client.set_message_callback(**callback, event_type_list=event_list, app_id=app_id)
        return await client.get_message_callback(app_id)

    current = _run(settings, work)
    click.echo(f"VOD now sends {event_list} events {how}:")
    _print(_describe(current, app_id), as_json=False)


@setup.command("show")
@app_id_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the AuthKey stays masked).")
@click.pass_context
def setup_show(ctx: click.Context, app_id: str | None, as_json: bool) -> None:
    """Show the current event notification configuration (GetMessageCallback)."""
    settings = _settings(ctx)

    async def work(client: Any) -> Any:
        return await client.get_message_callback(app_id)

    current = _run(settings, work)
    _print(_describe(current, app_id), as_json)
    _check_key(settings, current)


def _check_key(settings: Settings, current: Any) -> None:
    """Warn when VOD signs with a key this receiver does not accept."""
    configured = [k.get_secret_value() for k in settings.auth_keys]
    if current is None or (current.callback_type or "").upper() == "MNS" or not configured:
        return
    if current.auth_switch == "on" and current.auth_key and current.auth_key not in configured:
        _warn(
            f"VOD signs with AuthKey {mask(current.auth_key)}, which is not in "
            "VODHOOK_AUTH_KEYS: this receiver would reject the callbacks"
        )


@setup.command("off")
@app_id_option
@click.pass_context
def setup_off(ctx: click.Context, app_id: str | None) -> None:
    """Stop event notifications (DeleteMessageCallback)."""
    settings = _settings(ctx)

    async def work(client: Any) -> Any:
        return await client.delete_message_callback(app_id)

    _run(settings, work)
    click.echo(f"VOD no longer sends event notifications for app {app_id or 'app-1000000'}")


if __name__ == "__main__":  # pragma: no cover - `python -m receiver.setup_cmd ...`
    sys.exit(setup(obj={}))
