"""The intake's lock-free delivery counts must expose what prometheus_client would."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from receiver.metrics import ACK_BUCKETS, Metrics


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counts_and_ack_histogram_as_prometheus_exposes_them() -> None:
    m = Metrics()
    counts = m.deliveries["http"]
    counts.received += 3
    counts.duplicates += 1
    for seconds in (0.0001, ACK_BUCKETS[0], 0.0007, 9.0):  # a bound itself counts as <= bound
        counts.acked(seconds)
    got = samples(m)
    http = (("source", "http"),)
    assert got[("vodhook_deliveries_received_total", http)] == 3
    assert got[("vodhook_deliveries_duplicate_total", http)] == 1
    bucket = "vodhook_ack_seconds_bucket"
    assert got[(bucket, (("le", "0.0005"), ("source", "http")))] == 2
    assert got[(bucket, (("le", "0.001"), ("source", "http")))] == 3
    assert got[(bucket, (("le", "5.0"), ("source", "http")))] == 3
    assert got[(bucket, (("le", "+Inf"), ("source", "http")))] == 4
    assert got[("vodhook_ack_seconds_count", http)] == 4
    assert abs(got[("vodhook_ack_seconds_sum", http)] - (0.0001 + 0.0005 + 0.0007 + 9.0)) < 1e-9
