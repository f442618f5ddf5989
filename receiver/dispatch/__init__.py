"""Routing stored events to handlers, with retries, ordering and a journal."""
