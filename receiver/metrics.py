"""Prometheus metrics, one registry per service so that tests can run several in a process."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class DeliveryCounts:
    """Per-source delivery counts and ack times, kept as plain numbers.

    Why not prometheus_client's Counter and Histogram here: each inc/observe takes a lock,
    about 2 µs per request on the intake path (bench/, issue 5). These are written only by
    code on the event loop thread and read by /metrics on the same thread, so no lock is
    needed; DeliveryCollector turns them into the usual metric families at scrape time.
    """

    def __init__(self) -> None:
        self.received = 0
        self.duplicates = 0
        self.ack_counts = [0] * (len(ACK_BUCKETS) + 1)  # per bucket, the last one is +Inf
        self.ack_sum = 0.0

    def acked(self, seconds: float) -> None:
        self.ack_counts[bisect_left(ACK_BUCKETS, seconds)] += 1
        self.ack_sum += seconds


class DeliveryCollector(Collector):
    def __init__(self, by_source: dict[str, DeliveryCounts]) -> None:
        self.by_source = by_source

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "vodhook_deliveries_received", "Authenticated deliveries received.", labels=["source"]
        )
        duplicates = CounterMetricFamily(
            "vodhook_deliveries_duplicate",
            "Deliveries already stored (suppressed).",
            labels=["source"],
        )
        ack = HistogramMetricFamily(
            "vodhook_ack_seconds", "From request start to acknowledgement.", labels=["source"]
        )
        for source, counts in self.by_source.items():
            received.add_metric([source], counts.received)
            duplicates.add_metric([source], counts.duplicates)
            cumulative, buckets = 0, []
            for bound, n in zip((*ACK_BUCKETS, float("inf")), counts.ack_counts, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            ack.add_metric([source], buckets, counts.ack_sum)
        yield from (received, duplicates, ack)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Written on the intake path: see DeliveryCounts.
        self.deliveries = {"http": DeliveryCounts()}
        r.register(DeliveryCollector(self.deliveries))
        self.rejected = Counter(
            "vodhook_deliveries_rejected",
            "Deliveries refused, by reason.",
            ["source", "reason"],
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
