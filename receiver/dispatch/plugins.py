"""Finding routers: the `vodhook.handlers` entry-point group, then VODHOOK_PLUGINS.

Built-ins in handlers/ are published through the same entry point as any third-party
plugin, so they get no private path into the dispatcher.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any

from receiver.dispatch.router import Route, Router, RouteTable
from receiver.settings import ChainSettings

ENTRY_POINT_GROUP = "vodhook.handlers"


class PluginError(Exception):
    """A plugin could not be loaded or a chain names something unknown."""


def load_object(spec: str) -> Any:
    """Import `module:attr` (attr may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"plugin {spec!r} must look like 'package.module:router'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import plugin module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"plugin {spec!r}: {module_name} has no {part!r}") from exc
    return obj


def discover_routers(plugins: Sequence[str], include_entry_points: bool = True) -> list[Router]:
    routers: list[Router] = []
    if include_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            obj = ep.load()
            if not isinstance(obj, Router):
                raise PluginError(f"entry point {ep.name!r} is not a receiver.Router")
            routers.append(obj)
    for spec in plugins:
        obj = load_object(spec)
        if not isinstance(obj, Router):
            raise PluginError(f"plugin {spec!r} is not a receiver.Router")
        if obj not in routers:
            routers.append(obj)
    return routers


def build_route_table(
    routers: Iterable[Router],
    chains: Sequence[ChainSettings] = (),
    disabled: Iterable[str] = (),
) -> RouteTable:
    """Active routes first (in load order), then each chain's steps in order."""
    skip = set(disabled)
    routes: list[Route] = []
    handlers: dict[str, Any] = {}
    owners: dict[str, Router] = {}
    for router in routers:
        for route in router.routes:
            if route.name in skip:
                continue
            routes.append(replace(route, middleware=tuple(router.middleware)))
        for name, func in router.handlers.items():
            if name in handlers and handlers[name] is not func:
                raise PluginError(f"two plugins offer a handler named {name!r}")
            handlers[name] = func
            owners[name] = router
    for index, chain in enumerate(chains):
        for step_index, step in enumerate(chain.run):
            if isinstance(step, str):
                name, options = step, {}
            else:
                options = dict(step)
                name = str(options.pop("handler", ""))
            if name not in handlers:
                known = ", ".join(sorted(handlers)) or "none"
                raise PluginError(
                    f"chain {index} step {step_index}: no handler named {name!r} (known: {known})"
                )
            routes.append(
                Route(
                    name=f"chain{index}.{step_index}.{name}",
                    func=handlers[name],
                    event_types=None if "*" in chain.on else frozenset(chain.on),
                    status=chain.status,
                    options=options,
                    middleware=tuple(owners[name].middleware),
                    result_key=name,
                )
            )
    return RouteTable(routes, handlers)
