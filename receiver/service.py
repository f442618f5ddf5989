"""Wiring: one place that builds the store, routes, dispatcher and sources from settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from receiver.dispatch.dispatcher import Dispatcher
from receiver.dispatch.plugins import build_route_table, discover_routers
from receiver.dispatch.router import RouteTable
from receiver.logs import get_logger
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.sources.http import CallbackEndpoint
from receiver.sources.http_protocol import OpenRequests
from receiver.store import EventStore, GroupCommit, open_store
from receiver.verify import Verifier, vod_verifier
from receiver.vod import VodClient


class ConfigError(Exception):
    """Settings that would make the service unsafe or unable to run."""


def build_verifier(settings: Settings) -> Verifier:
    if settings.auth == "off":
        return Verifier([])
    keys = [k.get_secret_value() for k in settings.auth_keys]
    if not keys:
        raise ConfigError(
            "no VOD AuthKey configured: set VODHOOK_AUTH_KEYS (comma-separated), or set "
            "VODHOOK_AUTH=off to accept unsigned callbacks (development only)"
        )
    return vod_verifier(keys, settings.callback_urls, settings.auth_window)


def build_route_table_from(settings: Settings) -> RouteTable:
    routers = discover_routers(settings.plugins, settings.builtin_handlers)
    return build_route_table(routers, settings.chains, settings.disable_handlers)


class Service:
    """Everything `vodhook serve` runs in one process: sources, store, dispatcher."""

    def __init__(self, settings: Settings, *, vod: Any = None) -> None:
        self.settings = settings
        self.log = get_logger(component="service")
        self.verifier = build_verifier(settings)
        self.metrics = Metrics()
        self.store: EventStore = open_store(settings.database_url, settings.sqlite_synchronous)
        self.table = build_route_table_from(settings)
        try:
            self.vod = vod if vod is not None else VodClient.from_settings(settings)
        except ValueError as exc:  # bad endpoint, half a key pair, bad vod_qps
            raise ConfigError(f"VOD API settings: {exc}") from exc
        # One writer for everything: deliveries and the dispatcher's journal share commits.
        self.intake = GroupCommit(
            self.store, settings.commit_max_batch, threaded=settings.commit_thread
        )
        self.dispatcher = Dispatcher(
            self.store, self.intake, self.table, settings, self.metrics, vod=self.vod
        )
        # HTTP requests being handled, and clients just answered (kept by the server's
        # protocol, see cli.py): a commit waits briefly for them, so that they share it.
        self.open_requests = OpenRequests()
        self.intake.expected_requests = self.open_requests.expected
        self.intake.on_commit = self.dispatcher.notify
        self.intake.on_stored = self.dispatcher.remember
        self.sources: list[Any] = []
        self.started = False

    async def start(self) -> None:
        if self.settings.auth == "off":
            self.log.warning(
                "auth_disabled", detail="VODHOOK_AUTH=off: unsigned callbacks are accepted"
            )
        self.dispatcher.start()
        for source in self.sources:
            await source.start()
        self.started = True
        self.log.info(
            "started",
            routes=[r.name for r in self.table.routes],
            database=self.settings.database_url,
        )

    async def stop(self) -> None:
        """Sources first (nothing new comes in), then the dispatcher, then the store."""
        for source in self.sources:
            await source.stop()
        await self.dispatcher.stop()
        await self.intake.close()
        if isinstance(self.vod, VodClient):
            await self.vod.aclose()
        self.store.close()
        self.log.info("stopped")

    @property
    def ready(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {"dispatcher": self.dispatcher.alive}
        try:
            self.store.ping()
            checks["store"] = True
        except Exception as exc:
            checks["store"] = f"unreachable: {type(exc).__name__}"
        for source in self.sources:
            checks[source.name] = source.alive
        return all(v is True for v in checks.values()) and self.started, checks

    # -- HTTP -------------------------------------------------------------------------------
    def asgi_app(self) -> CallbackEndpoint:
        async def healthz(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        async def readyz(request: Request) -> Response:
            ok, checks = self.ready
            return JSONResponse(
                {"status": "ready" if ok else "not_ready", "checks": checks},
                status_code=200 if ok else 503,
            )

        async def metrics(request: Request) -> Response:
            counts = self.store.counts()
            for status, n in counts.items():
                self.metrics.events.labels(status).set(n)
            self.metrics.queue_depth.set(counts.get("received", 0) + counts.get("retrying", 0))
            return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = Starlette(
            routes=[
                HttpRoute("/healthz", healthz),
                HttpRoute("/readyz", readyz),
                HttpRoute("/metrics", metrics),
            ],
            lifespan=lifespan,
        )
        return CallbackEndpoint(
            self.settings.callback_path,
            self.verifier,
            self.intake,
            self.metrics,
            self.settings.max_body_bytes,
            app,
        )

    async def run_headless(self, stop: asyncio.Event) -> None:
        """Sources and dispatcher without HTTP (`vodhook poll`), until `stop` is set."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
