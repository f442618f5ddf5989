"""Exceptions a handler raises to tell the dispatcher what to do next.

Everything else a handler raises counts as retryable: an unknown failure is more often a
passing one (network, throttling) than a permanent one, and retries are bounded anyway.
"""

from __future__ import annotations


class HandlerError(Exception):
    """Base class for errors with dispatch meaning."""


class PermanentError(HandlerError):
    """Retrying cannot help: the event goes to the dead-letter store at once."""


class RetryableError(HandlerError):
    """Try again later, with backoff, within the attempt and age budget."""
