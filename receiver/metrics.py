"""Prometheus metrics, one registry per service so that tests can run several in a process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "vodhook_deliveries_received",
            "Authenticated deliveries received.",
            ["source"],
            registry=r,
        )
        self.duplicates = Counter(
            "vodhook_deliveries_duplicate",
            "Deliveries already stored (suppressed).",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "vodhook_deliveries_rejected",
            "Deliveries refused, by reason.",
            ["source", "reason"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "vodhook_ack_seconds",
            "From request start to acknowledgement.",
            ["source"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.handler_runs = Counter(
            "vodhook_handler_runs",
            "Handler runs by outcome (processed, failed).",
            ["handler", "outcome"],
            registry=r,
        )
        self.dead = Counter(
            "vodhook_events_dead",
            "Events moved to the dead-letter state, by failing handler.",
            ["handler"],
            registry=r,
        )
        self.events = Gauge(
            "vodhook_events",
            "Stored events by status (queue depth = received + retrying).",
            ["status"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "vodhook_queue_depth", "Events waiting to be processed.", registry=r
        )
        self.in_flight = Gauge(
            "vodhook_events_in_flight", "Events being processed now.", registry=r
        )
        # MNS source
        self.mns_messages = Counter(
            "vodhook_mns_messages",
            "MNS messages by outcome (received, stored, duplicate, dead).",
            ["outcome"],
            registry=r,
        )
        self.mns_poll_errors = Counter(
            "vodhook_mns_poll_errors", "MNS call failures by kind.", ["kind"], registry=r
        )
        self.mns_in_flight = Gauge(
            "vodhook_mns_in_flight", "MNS messages received but not yet deleted.", registry=r
        )
        self.mns_oldest_age = Gauge(
            "vodhook_mns_oldest_message_age_seconds",
            "Age (from EnqueueTime) of the oldest message in the last batch.",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
