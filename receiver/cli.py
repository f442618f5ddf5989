"""The `vodhook` command line (click)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from receiver.settings import Settings, load_settings
from receiver.setup_cmd import setup


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"), **overrides)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.group()
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="VODHOOK_CONFIG",
    help="TOML settings file (also VODHOOK_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """vodhook: receive and process ApsaraVideo VOD event notifications."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


# -- serve -------------------------------------------------------------------------------------
def _run_service(settings: Settings, http: bool) -> None:
    from receiver.logs import configure_logging
    from receiver.service import ConfigError, Service

    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    try:
        service = Service(settings)
        _attach_sources(service, settings, require_mns=not http)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if http:
        import uvicorn

        from receiver.sources.http_protocol import guarded_protocol

        body_timeouts = service.metrics.rejected.labels("http", "body_timeout")

        endpoint = service.asgi_app()
        config = uvicorn.Config(
            endpoint,
            host=settings.host,
            port=settings.port,
            http=guarded_protocol(body_timeouts.inc, service.open_requests, endpoint),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        server.run()
        if not service.started:
            sys.exit(1)
        return

    async def headless() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run_headless(stop)

    asyncio.run(headless())


def _attach_sources(service: Any, settings: Settings, require_mns: bool) -> None:
    """Add the MNS poller when it is configured (and insist on it for --no-http)."""
    from receiver.service import ConfigError

    if settings.mns_endpoint and settings.mns_queue:
        from receiver.sources.mns import MnsSource

        service.sources.append(MnsSource.from_settings(settings, service))
    elif require_mns:
        raise ConfigError(
            "MNS mode needs VODHOOK_MNS_ENDPOINT and VODHOOK_MNS_QUEUE (try `vodhook sandbox mns`)"
        )


@main.command()
@click.option("--host", default=None, help="Bind address [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: 8000].")
@click.option("--no-http", is_flag=True, help="Run only the MNS source and the workers.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, no_http: bool) -> None:
    """Run the HTTP receiver, the MNS poller (when configured) and the workers."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    _run_service(_settings(ctx, **overrides), http=not no_http)


@main.command()
@click.pass_context
def poll(ctx: click.Context) -> None:
    """Short for `serve --no-http`: consume the MNS queue and process events."""
    _run_service(_settings(ctx), http=False)


# -- send --------------------------------------------------------------------------------------
@main.command()
@click.argument("event_type")
@click.option("--url", required=True, help="Callback URL to POST to (also the signed URL).")
@click.option("--key", default=None, help="AuthKey to sign with [default: first configured].")
@click.option(
    "--set", "fields", multiple=True, metavar="FIELD=VALUE", help="Override a payload field."
)
@click.option("--sign-url", default=None, help="URL string to sign, when it differs from --url.")
@click.pass_context
def send(
    ctx: click.Context,
    event_type: str,
    url: str,
    key: str | None,
    fields: tuple[str, ...],
    sign_url: str | None,
) -> None:
    """Build a realistic EVENT_TYPE payload, sign it as VOD does, POST it, print the answer."""
    import httpx

    from receiver.events import sample_event
    from receiver.verify import vod_signature

    overrides: dict[str, Any] = {}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--set")
        overrides[name] = value
    payload = sample_event(event_type, overrides)
    body = orjson.dumps(payload)
    headers = {"content-type": "application/json"}
    if key is None:
        keys = _settings(ctx).auth_keys
        key = keys[0].get_secret_value() if keys else None
    if key:
        timestamp = str(int(time.time()))
        headers["x-vod-timestamp"] = timestamp
        headers["x-vod-signature"] = vod_signature(sign_url or url, timestamp, key)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"POST {url} failed: {exc}") from exc
    click.echo(body.decode())
    click.echo(f"-> HTTP {response.status_code} {response.text}")
    if response.status_code != 200:
        sys.exit(1)


# -- events ------------------------------------------------------------------------------------
@main.group()
def events() -> None:
    """Inspect and replay stored events."""


def _store(ctx: click.Context) -> Any:
    from receiver.store import open_store

    settings = _settings(ctx)
    try:
        return open_store(settings.database_url, settings.sqlite_synchronous)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@events.command("list")
@click.option("--status", default=None, help="received, processing, done, retrying or dead.")
@click.option("--type", "event_type", default=None, help="Only this EventType.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def events_list(
    ctx: click.Context, status: str | None, event_type: str | None, limit: int, as_json: bool
) -> None:
    """Newest events first."""
    records = _store(ctx).list(status=status, event_type=event_type, limit=limit)
    if as_json:
        _echo_json([r.summary() for r in records])
        return
    click.echo(
        f"{'ID':>6}  {'STATUS':<10} {'TRIES':>5}  {'SOURCE':<5}  {'RECEIVED':<20}  "
        f"{'TYPE':<28} MEDIA"
    )
    for r in records:
        click.echo(
            f"{r.id:>6}  {r.status!s:<10} {r.attempts:>5}  {r.source:<5}  "
            f"{_when(r.received_at):<20}  {r.event_type:<28} {r.media_id or '-'}"
        )


@events.command("show")
@click.argument("event_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events_show(ctx: click.Context, event_id: int, as_json: bool) -> None:
    """One event: its body, its handler journal and every error."""
    detail = _store(ctx).get(event_id)
    if detail is None:
        raise click.ClickException(f"no event with id {event_id}")
    try:
        body: Any = orjson.loads(detail.record.body)
    except orjson.JSONDecodeError:
        body = detail.record.body.decode("utf-8", "replace")
    data = {
        **detail.record.summary(),
        "body": body,
        "journal": [
            {
                "handler": j.handler,
                "status": j.status,
                "attempts": j.attempts,
                "result": j.result,
                "error": j.error,
                "updated_at": j.updated_at,
            }
            for j in detail.journal
        ],
        "errors": [
            {"attempt": e.attempt, "handler": e.handler, "error": e.error, "at": e.at}
            for e in detail.errors
        ],
    }
    if as_json:
        _echo_json(data)
        return
    r = detail.record
    click.echo(
        f"event {r.id}: {r.event_type} media={r.media_id or '-'} status={r.status} "
        f"attempts={r.attempts} source={r.source} received={_when(r.received_at)}"
    )
    click.echo(f"dedup key: {r.dedup_key}")
    if r.last_error:
        click.echo(f"last error: {r.last_error}")
    click.echo("body:")
    click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    click.echo("journal:")
    for j in data["journal"]:
        line = f"  {j['handler']}: {j['status']} (x{j['attempts']})"
        if j["error"]:
            line += f" {j['error']}"
        click.echo(line)
        if j["result"] is not None:
            click.echo("    result: " + orjson.dumps(j["result"], default=str).decode())
    if data["errors"]:
        click.echo("errors:")
        for e in data["errors"]:
            click.echo(f"  attempt {e['attempt']} {e['handler'] or '-'}: {e['error']}")


@events.command("replay")
@click.argument("event_ids", nargs=-1, type=int)
@click.option("--status", default=None, help="Replay every event with this status (e.g. dead).")
@click.pass_context
def events_replay(ctx: click.Context, event_ids: tuple[int, ...], status: str | None) -> None:
    """Put events back in the queue. Handlers that already succeeded are not run again."""
    if bool(event_ids) == bool(status):
        raise click.UsageError("give event IDs or --status, not both")
    n = _store(ctx).requeue(event_ids, status)
    click.echo(f"requeued {n} event(s); a running `vodhook serve` picks them up")


# -- routes ------------------------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def routes(ctx: click.Context, as_json: bool) -> None:
    """Which handlers run for which events, in order."""
    from receiver.dispatch.plugins import PluginError
    from receiver.service import build_route_table_from

    try:
        table = build_route_table_from(_settings(ctx))
    except PluginError as exc:
        raise click.ClickException(str(exc)) from exc
    described = [r.describe() for r in table.routes]
    if as_json:
        _echo_json({"routes": described, "handlers": sorted(table.handlers)})
        return
    for r in described:
        status = f" status={r['status']}" if r["status"] else ""
        options = f" {r['options']}" if r["options"] else ""
        click.echo(f"{r['name']}: on {','.join(r['on'])}{status}{options}")
    click.echo("named handlers for [[chains]]: " + (", ".join(sorted(table.handlers)) or "none"))


main.add_command(setup)


# -- sandbox -----------------------------------------------------------------------------------
@main.group(invoke_without_command=True)
@click.option("--port", default=9001, show_default=True, help="VOD API emulator port.")
@click.option(
    "--callback-url",
    default="http://127.0.0.1:8000/callback",
    show_default=True,
    help="Where the emulator delivers events.",
)
@click.option("--auth-key", default=None, help="AuthKey to sign with [default: first configured].")
@click.option("--mns-port", type=int, default=None, help="Also run an MNS emulator; deliver there.")
@click.option("--queue", default="vod-events", show_default=True, help="MNS queue name.")
@click.pass_context
def sandbox(
    ctx: click.Context,
    port: int,
    callback_url: str,
    auth_key: str | None,
    mns_port: int | None,
    queue: str,
) -> None:
    """Loopback emulators of the VOD API (and MNS): try vodhook with no cloud account."""
    if ctx.invoked_subcommand is not None:
        return
    from receiver.sandbox.vod_emulator import serve_forever_cli

    if auth_key is None:
        keys = _settings(ctx).auth_keys
        auth_key = keys[0].get_secret_value() if keys else None
    if mns_port is None:
        serve_forever_cli(port=port, callback_url=callback_url, auth_key=auth_key)
        return
    from receiver.sandbox.mns_emulator import MnsEmulator

    with MnsEmulator(port=mns_port) as mns:
        mns.create_queue(queue)
        serve_forever_cli(
            port=port,
            mns_endpoint=mns.endpoint,
            mns_queue=queue,
            mns_access_key_id=mns.access_key_id,
            mns_access_key_secret=mns.access_key_secret,
        )


@sandbox.command("mns")
@click.option("--port", default=9002, show_default=True, help="MNS emulator port.")
@click.option("--queue", default="vod-events", show_default=True, help="Queue to create.")
def sandbox_mns(port: int, queue: str) -> None:
    """Run only the MNS emulator and print the settings that point vodhook at it."""
    from receiver.sandbox.mns_emulator import serve_forever_cli

    serve_forever_cli(port, queue)


@sandbox.command("upload")
@click.option("--endpoint", default="http://127.0.0.1:9001", show_default=True)
@click.option("--title", default="sandbox upload", show_default=True)
def sandbox_upload(endpoint: str, title: str) -> None:
    """Make the running sandbox emit an upload's events (upload, transcode, snapshot)."""
    from receiver.sandbox.vod_emulator import trigger_upload

    try:
        video_id = trigger_upload(endpoint, title=title)
    except OSError as exc:
        raise click.ClickException(f"no sandbox at {endpoint}: {exc}") from exc
    click.echo(f"uploaded {video_id}; its events are on their way")


if __name__ == "__main__":  # pragma: no cover
    main()
