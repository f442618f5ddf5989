"""VOD callback signature: the published vectors, rotation, window, case and header rules."""

from __future__ import annotations

import pytest

from receiver.verify import SignedRequest, VerificationError, vod_signature, vod_verifier

URL = "https://vod-hooks.example.com/aliyun/vod/callback"
KEY = "Abc123XyzAuthKey"

# vod-events.md §9, computed independently of this code.
VECTORS = [
    (
        "https://www.example.com/your/callback",
        "1519375990",
        "test123",
        "c72b60894140fa98920f1279219b7ed4",
    ),
    (
        "https://www.example.com/your/callback",
        "1519375990",
        "Test123",
        "c587b80d2d0ede300e8967937da7219b",
    ),
    (URL, "1700000000", KEY, "d0818e1616a4d89e4b69d6bb9676877a"),
    (
        "http://vod-hooks.example.com/aliyun/vod/callback",
        "1700000000",
        KEY,
        "5863ddac7c9faa30eea06417b0bc5055",
    ),
    (URL + "?env=staging", "1700000000", KEY, "f8eea17adab92ebf5f42c12dcd50628d"),
    (URL + "/", "1700000000", KEY, "626d336309007648c208272dfa518dd4"),
    (URL, "1700000001", KEY, "451d685ef370dcac243925ce317868f8"),
]


@pytest.mark.parametrize(("url", "ts", "key", "expected"), VECTORS)
def test_signature_vectors(url: str, ts: str, key: str, expected: str) -> None:
    assert vod_signature(url, ts, key) == expected


def request(sig: str, ts: str = "1700000000", url: str = URL) -> SignedRequest:
    return SignedRequest(url, (ts,), (sig,))


def verifier(
    keys: list[str], urls: list[str] | None = None, window: int = 300, now: float = 1700000000.0
):  # type: ignore[no-untyped-def]
    return vod_verifier(keys, urls or [], window, clock=lambda: now)


def reason(v, req: SignedRequest) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(VerificationError) as info:
        v.verify(req)
    return info.value.reason


def test_accepts_vector_against_configured_url() -> None:
    verifier([KEY], [URL]).verify(request("d0818e1616a4d89e4b69d6bb9676877a"))


def test_hex_case_is_ignored() -> None:
    verifier([KEY], [URL]).verify(request("D0818E1616A4D89E4B69D6BB9676877A"))


def test_rotation_accepts_old_and_new_keys() -> None:
    v = verifier(["NewKey456Rotated", KEY], [URL])
    v.verify(request("d0818e1616a4d89e4b69d6bb9676877a"))
    v.verify(request(vod_signature(URL, "1700000000", "NewKey456Rotated")))
    assert (
        reason(verifier(["NewKey456Rotated"], [URL]), request("d0818e1616a4d89e4b69d6bb9676877a"))
        == "bad_signature"
    )


def test_any_configured_url_matches() -> None:
    v = verifier([KEY], ["http://internal:8000/callback", URL + "?env=staging"])
    v.verify(request("f8eea17adab92ebf5f42c12dcd50628d"))


def test_request_url_used_when_none_configured() -> None:
    verifier([KEY]).verify(
        request(
            "5863ddac7c9faa30eea06417b0bc5055",
            url="http://vod-hooks.example.com/aliyun/vod/callback",
        )
    )


@pytest.mark.parametrize("variant", ["http_scheme", "slash", "query"])
def test_url_must_match_exactly(variant: str) -> None:
    sig = {
        "http_scheme": "5863ddac7c9faa30eea06417b0bc5055",
        "slash": "626d336309007648c208272dfa518dd4",
        "query": "f8eea17adab92ebf5f42c12dcd50628d",
    }[variant]
    assert reason(verifier([KEY], [URL]), request(sig)) == "bad_signature"


def test_volcengine_body_variant_is_rejected() -> None:
    assert (
        reason(verifier([KEY], [URL]), request("a770860d6d7b3327ca8cd789bf8f1479"))
        == "bad_signature"
    )


@pytest.mark.parametrize("offset", [-301, 301, -(10**9)])
def test_window_is_two_sided(offset: int) -> None:
    now = 1700000000.0 + offset
    assert (
        reason(verifier([KEY], [URL], now=now), request("d0818e1616a4d89e4b69d6bb9676877a"))
        == "stale_timestamp"
    )


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_window_edges_accepted(offset: int) -> None:
    verifier([KEY], [URL], now=1700000000.0 + offset).verify(
        request("d0818e1616a4d89e4b69d6bb9676877a")
    )


@pytest.mark.parametrize("ts", ["", "-5", "17e8", "1700000000.5", "１７００", "9" * 40])
def test_malformed_timestamps(ts: str) -> None:
    assert reason(verifier([KEY], [URL]), request("0" * 32, ts=ts)) in (
        "stale_timestamp",
        "missing_headers",
    )


def test_missing_and_duplicate_headers() -> None:
    v = verifier([KEY], [URL])
    assert reason(v, SignedRequest(URL, (), ("x",))) == "missing_headers"
    assert reason(v, SignedRequest(URL, ("1700000000",), ())) == "missing_headers"
    dup = SignedRequest(URL, ("1700000000", "1700000000"), ("d0818e1616a4d89e4b69d6bb9676877a",))
    assert reason(v, dup) == "missing_headers"


@pytest.mark.parametrize("sig", ["", "zz", "d0818e1616a4d89e4b69d6bb9676877", "é" * 32])
def test_malformed_signatures(sig: str) -> None:
    assert reason(verifier([KEY], [URL]), request(sig)) in ("bad_signature", "missing_headers")


def test_error_text_never_contains_the_key() -> None:
    with pytest.raises(VerificationError) as info:
        verifier([KEY], [URL]).verify(request("0" * 32))
    assert KEY not in str(info.value)
