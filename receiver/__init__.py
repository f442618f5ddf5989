"""vodhook: receive, verify, store and process ApsaraVideo VOD event notifications.

The package is laid out in the order an event travels:
sources/ (HTTP, MNS) -> verify.py -> events/ (typed models) -> store/ -> dispatch/ -> handlers.

A plugin needs only what is exported here.
"""

from receiver.dispatch.context import HandlerContext
from receiver.dispatch.router import Router
from receiver.errors import PermanentError, RetryableError

__all__ = ["HandlerContext", "PermanentError", "RetryableError", "Router"]
__version__ = "0.1.0"
