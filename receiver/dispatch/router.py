"""Routers: how handlers say which events they want.

A plugin module exposes a `Router`; built-in handlers in handlers/ are registered exactly
the same way. Two kinds of registration:
- `@router.on(...)` / `@router.on_any()` make an active route that runs on matching events;
- `@router.handler("name")` makes a named handler that runs only where a `[[chains]]` table
  in the settings puts it (with options), so built-ins with side effects are off by default.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from receiver.dispatch.context import HandlerContext

Handler = Callable[["HandlerContext"], Any]
CallNext = Callable[["HandlerContext"], Awaitable[Any]]
Middleware = Callable[["HandlerContext", CallNext], Awaitable[Any]]
Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class Route:
    """One handler bound to a match rule; `name` keys its journal entries, so keep it stable."""

    name: str
    func: Handler
    event_types: frozenset[str] | None  # None: every event type
    status: str | None = None
    predicate: Predicate | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    middleware: tuple[Middleware, ...] = ()
    result_key: str = ""

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def matches(self, event: Any) -> bool:
        if self.event_types is not None and event.event_type not in self.event_types:
            return False
        if self.status is not None:
            status = getattr(event, "status", None)
            if status is None or str(status).lower() != self.status.lower():
                return False
        return self.predicate is None or bool(self.predicate(event))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "on": sorted(self.event_types) if self.event_types is not None else ["*"],
            "status": self.status,
            "predicate": getattr(self.predicate, "__name__", None) if self.predicate else None,
            "options": {k: _masked(k, v) for k, v in self.options.items()},
            "async": self.is_async,
        }


_SECRET_WORDS = ("secret", "key", "token", "password")


def _masked(name: str, value: Any) -> Any:
    """Options named like secrets are never shown (`vodhook routes`, logs)."""
    lowered = name.lower()
    if lowered.endswith("_env"):  # the name of an environment variable, not its value
        return value
    return "[redacted]" if any(w in lowered for w in _SECRET_WORDS) else value


def _types(event_types: Iterable[str]) -> frozenset[str] | None:
    names = frozenset(event_types)
    return None if not names or "*" in names else names


class Router:
    """Collects routes, named handlers and middleware from one plugin."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.routes: list[Route] = []
        self.handlers: dict[str, Handler] = {}
        self.middleware: list[Middleware] = []

    def on(
        self,
        *event_types: str,
        status: str | None = None,
        when: Predicate | None = None,
        name: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Run the decorated handler for these event types (optionally one status)."""

        def register(func: Handler) -> Handler:
            route_name = name or f"{func.__module__}:{func.__qualname__}"
            self.routes.append(
                Route(
                    route_name,
                    func,
                    _types(event_types),
                    status,
                    when,
                    result_key=route_name,
                )
            )
            return func

        return register

    def on_any(
        self, *, status: str | None = None, when: Predicate | None = None, name: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Run the decorated handler for every event."""
        return self.on(status=status, when=when, name=name)

    def handler(self, name: str) -> Callable[[Handler], Handler]:
        """Offer a named handler for `[[chains]]` tables; it runs only where a chain puts it."""

        def register(func: Handler) -> Handler:
            self.handlers[name] = func
            return func

        return register

    def use(self, middleware: Middleware) -> Middleware:
        """Wrap every call to this router's handlers (timing, tracing, error mapping ...)."""
        self.middleware.append(middleware)
        return middleware


@dataclass
class RouteTable:
    """All routes of a process, in the order they run for an event."""

    routes: list[Route]
    handlers: dict[str, Handler]

    def for_event(self, event: Any) -> list[Route]:
        return [route for route in self.routes if route.matches(event)]
