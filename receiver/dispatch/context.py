"""What a handler receives: the typed event and everything it needs to act on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from receiver.events import VodEvent
    from receiver.settings import Settings


@dataclass
class HandlerContext:
    """One handler call.

    `results` holds what earlier handlers for this event returned (by handler name), from
    this attempt or from earlier attempts, because completed handlers do not run again.
    `options` are the handler's options from its `[[chains]]` step.
    """

    event: VodEvent
    event_id: int
    attempt: int
    source: str
    log: Any
    settings: Settings
    results: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    vod: Any = None
    handler: str = ""

    @property
    def media_id(self) -> str | None:
        return self.event.media_id
