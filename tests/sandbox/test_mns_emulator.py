"""The MNS emulator, exercised only through the real, unmodified ``aliyun-mns-sdk``.

Why: vodhook's MNS consumer is tested against this emulator, so the emulator itself must
be proven to behave like MNS *as the SDK sees it* (exception types, handle rotation,
long-poll wake-ups, fault effects).  No test sleeps to "wait for something": waits use
threading.Event / emulator hooks, and the few real delays are the feature under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import mns.mns_client as sdk_client_module
import pytest
from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSServerException
from mns.queue import Message, Queue, QueueMeta

from receiver.sandbox.mns_emulator import MnsEmulator, serve_forever_cli

pytestmark = pytest.mark.integration

QUEUE = "vod-events"


def make_account(
    emu: MnsEmulator,
    *,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str = "",
    timeout: float = 15.0,
) -> Any:
    """One Account per thread: the SDK's HTTP connection is not thread-safe."""
    account = Account(
        emu.endpoint,
        access_key_id or emu.access_key_id,
        access_key_secret or emu.access_key_secret,
        security_token,
    )
    account.mns_client.set_connection_timeout(timeout)
    return account


@pytest.fixture
def emu() -> Iterator[MnsEmulator]:
    with MnsEmulator() as emulator:
        emulator.create_queue(QUEUE, visibility_timeout=30)
        yield emulator


@pytest.fixture
def queue(emu: MnsEmulator) -> Queue:
    return make_account(emu).get_queue(QUEUE)


@pytest.fixture
def raw_queue(emu: MnsEmulator) -> Queue:
    q = make_account(emu).get_queue(QUEUE)
    q.set_encoding(False)
    return q


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Event, dict[str, Any]]:
    """Run ``fn`` in a daemon thread; the event fires when it returned or raised."""
    done = threading.Event()
    out: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            out["result"] = fn()
        except Exception as exc:
            out["error"] = exc
        finally:
            out["elapsed"] = time.monotonic() - started
            done.set()

    threading.Thread(target=target, daemon=True).start()
    return done, out


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


# --------------------------------------------------------------------------- queues


def test_create_identical_and_conflicting_queue(emu: MnsEmulator) -> None:
    q = make_account(emu).get_queue("created-by-sdk")
    meta = QueueMeta(vis_timeout=45, polling_wait_sec=3, logging_enabled=False)
    url = q.create(meta)
    assert url == f"{emu.endpoint}/queues/created-by-sdk"
    assert q.create(QueueMeta(vis_timeout=45, polling_wait_sec=3, logging_enabled=False)) == url
    with pytest.raises(MNSServerException) as info:
        q.create(QueueMeta(vis_timeout=60))
    assert info.value.type == "QueueAlreadyExist"
    statuses = [r.status for r in emu.request_log if r.op == "CreateQueue"]
    assert statuses == [201, 204, 409]

    attrs = q.get_attributes()
    assert (attrs.queue_name, attrs.visibility_timeout, attrs.polling_wait_seconds) == (
        "created-by-sdk",
        45,
        3,
    )
    assert attrs.maximum_message_size == 65536
    assert attrs.message_retention_period == 345600
    assert attrs.logging_enabled is False
    assert attrs.create_time > 0

    q.delete()
    with pytest.raises(MNSServerException) as info:
        q.get_attributes()
    assert info.value.type == "QueueNotExist"


def test_set_attributes_and_list_queues(emu: MnsEmulator) -> None:
    acc = make_account(emu)
    q = acc.get_queue(QUEUE)
    q.set_attributes(QueueMeta(vis_timeout=90))
    assert q.get_attributes().visibility_timeout == 90
    for name in ("vod-a", "vod-b", "other"):
        emu.create_queue(name)
    urls, marker = acc.list_queue(prefix="vod-", ret_number=2)
    assert urls == [f"{emu.endpoint}/queues/vod-a", f"{emu.endpoint}/queues/vod-b"]
    assert marker
    urls, marker = acc.list_queue(prefix="vod-", ret_number=2, marker=marker)
    assert urls == [f"{emu.endpoint}/queues/{QUEUE}"] and marker == ""


def test_invalid_queue_arguments_are_rejected(emu: MnsEmulator, raw_queue: Queue) -> None:
    acc = make_account(emu)
    with pytest.raises(MNSServerException) as info:
        acc.get_queue("1-starts-with-digit").create(QueueMeta())
    assert info.value.type == "InvalidQueueName"
    with pytest.raises(MNSServerException) as info:
        acc.get_queue("bad-vt").create(QueueMeta(vis_timeout=43201))
    assert info.value.type == "InvalidArgument"
    emu.create_queue("small", visibility_timeout=30, maximum_message_size=1024)
    small = acc.get_queue("small")
    small.set_encoding(False)
    with pytest.raises(MNSServerException) as info:
        small.send_message(Message("x" * 1025))
    assert info.value.type == "InvalidArgument"
    with pytest.raises(MNSServerException) as info:
        raw_queue.batch_send_message([Message(f"m{i}") for i in range(17)])
    assert info.value.type == "InvalidArgument"
    with pytest.raises(MNSServerException) as info:
        raw_queue.batch_receive_message(17, wait_seconds=0)
    assert info.value.type == "InvalidArgument"
    assert emu.queue_snapshot(QUEUE).total == 0


# --------------------------------------------------------------------------- messages


def test_send_receive_raw_body_verbatim(emu: MnsEmulator, raw_queue: Queue) -> None:
    body = '{"EventType":"FileUploadComplete","Title":"héllo <b>&amp;</b> 测试"}'
    sent = raw_queue.send_message(Message(body))
    assert sent.message_body_md5 == md5_upper(body)

    [stored] = emu.all_messages(QUEUE)
    assert stored.body == body and stored.state == "visible" and stored.dequeue_count == 0

    got = raw_queue.receive_message(wait_seconds=0)
    assert got.message_body == body
    assert got.message_id == sent.message_id
    assert got.message_body_md5 == md5_upper(body)
    assert got.dequeue_count == 1
    assert got.priority == 8
    assert got.enqueue_time <= got.first_dequeue_time < got.next_visible_time
    assert got.next_visible_time - got.first_dequeue_time == 30_000
    assert emu.queue_snapshot(QUEUE).inflight == 1

    raw_queue.delete_message(got.receipt_handle)
    assert emu.all_messages(QUEUE) == []
    with pytest.raises(MNSServerException) as info:
        raw_queue.receive_message(wait_seconds=0)
    assert info.value.type == "MessageNotExist"


def test_send_receive_base64_stored_encoded(emu: MnsEmulator, queue: Queue) -> None:
    text = "héllo 测试 <xml/>"
    wire = base64.b64encode(text.encode()).decode()
    sent = queue.send_message(Message(text))
    assert sent.message_body_md5 == md5_upper(wire)  # MD5 of the body as on the wire
    assert emu.all_messages(QUEUE)[0].body == wire  # the emulator never decodes

    peeked = queue.peek_message()
    assert peeked.message_body == text.encode()
    got = queue.receive_message_with_str_body(wait_seconds=0)
    assert got.message_body == text
    queue.delete_message(got.receipt_handle)


def test_put_message_plants_poison_body_for_base64_consumers(
    emu: MnsEmulator, queue: Queue
) -> None:
    """Reproduces the SDK trap from mns-protocol.md: non-base64 body with encoding on."""
    emu.put_message(QUEUE, "not base64 {json}")
    with pytest.raises(ValueError):  # binascii.Error escapes the SDK, not an MNS exception
        queue.receive_message(wait_seconds=0)
    [msg] = emu.all_messages(QUEUE)
    assert (msg.state, msg.dequeue_count) == ("inflight", 1)  # dequeued, handle lost
    emu.expire_visibility(QUEUE)
    with pytest.raises(MNSClientNetworkException) as info:
        queue.batch_receive_message(16, wait_seconds=0)
    assert info.value.type == "RespDataDamaged"
    assert emu.all_messages(QUEUE)[0].dequeue_count == 2
    with pytest.raises(ValueError):
        emu.create_queue("bad", visibility_timeout=0)


def test_priority_order_and_peek_leaves_state(emu: MnsEmulator, raw_queue: Queue) -> None:
    raw_queue.batch_send_message([Message(f"p{p}", priority=p) for p in (9, 3, 16, 1, 3)])
    peeked = raw_queue.batch_peek_message(16)
    assert [m.message_body for m in peeked] == ["p1", "p3", "p3", "p9", "p16"]
    assert emu.queue_snapshot(QUEUE).visible == 5
    assert all(m.dequeue_count == 0 for m in emu.all_messages(QUEUE))
    got = raw_queue.batch_receive_message(2, wait_seconds=0)
    assert [(m.message_body, m.priority) for m in got] == [("p1", 1), ("p3", 3)]


def test_batch_send_16_receive_and_partial_batch_delete(emu: MnsEmulator, raw_queue: Queue) -> None:
    sent = raw_queue.batch_send_message([Message(f"body-{i}") for i in range(16)])
    assert len(sent) == 16 and len({m.message_id for m in sent}) == 16
    got = raw_queue.batch_receive_message(16, wait_seconds=0)
    assert sorted(m.message_body for m in got) == sorted(f"body-{i}" for i in range(16))
    assert all(m.dequeue_count == 1 for m in got)
    assert emu.queue_snapshot(QUEUE).inflight == 16

    handles = [m.receipt_handle for m in got]
    stale = raw_queue.change_message_visibility(handles[0], 30)  # rotates handles[0]
    assert stale.receipt_handle != handles[0]
    malformed = "not-a-handle"
    with pytest.raises(MNSServerException) as info:
        raw_queue.batch_delete_message([*handles[:15], malformed])  # at most 16 per call
    # handles[0] is stale now: it fails first, then the malformed one.
    assert info.value.type == "MessageNotExist"
    assert [(e["ErrorCode"], e["ReceiptHandle"]) for e in info.value.sub_errors] == [
        ("MessageNotExist", handles[0]),
        ("ReceiptHandleError", malformed),
    ]
    remaining = emu.all_messages(QUEUE)  # the 14 good handles were deleted anyway
    assert {m.message_id for m in remaining} == {got[0].message_id, got[15].message_id}
    raw_queue.batch_delete_message([stale.receipt_handle, handles[15]])
    assert emu.queue_snapshot(QUEUE).total == 0
    assert ("BatchDeleteMessage", 404) in [(r.op, r.status) for r in emu.request_log]


def test_change_visibility_rotates_handle(emu: MnsEmulator, raw_queue: Queue) -> None:
    raw_queue.send_message(Message("job"))
    got = raw_queue.receive_message(wait_seconds=0)
    changed = raw_queue.change_message_visibility(got.receipt_handle, 60)
    assert changed.receipt_handle != got.receipt_handle
    assert isinstance(changed.next_visible_time, str)  # SDK quirk: str, not int
    assert int(changed.next_visible_time) > got.next_visible_time

    with pytest.raises(MNSServerException) as info:
        raw_queue.delete_message(got.receipt_handle)
    assert info.value.type == "MessageNotExist"
    with pytest.raises(MNSServerException) as info:
        raw_queue.change_message_visibility(got.receipt_handle, 5)
    assert info.value.type == "MessageNotExist"
    with pytest.raises(MNSServerException) as info:
        raw_queue.delete_message("1-%%%garbage")
    assert info.value.type == "ReceiptHandleError"

    # VisibilityTimeout 0 releases the message at once; its latest handle dies with it.
    released = raw_queue.change_message_visibility(changed.receipt_handle, 0)
    again = raw_queue.receive_message(wait_seconds=0)
    assert again.dequeue_count == 2 and again.first_dequeue_time == got.first_dequeue_time
    with pytest.raises(MNSServerException) as info:
        raw_queue.delete_message(released.receipt_handle)
    assert info.value.type == "MessageNotExist"
    raw_queue.delete_message(again.receipt_handle)


def test_visibility_timeout_redelivery(emu: MnsEmulator, raw_queue: Queue) -> None:
    raw_queue.send_message(Message("retry me"))
    first = raw_queue.receive_message(wait_seconds=0)
    with pytest.raises(MNSServerException):
        raw_queue.receive_message(wait_seconds=0)  # invisible while in flight
    assert emu.expire_visibility(QUEUE) == 1
    second = raw_queue.receive_message(wait_seconds=0)
    assert (second.message_id, second.dequeue_count) == (first.message_id, 2)
    assert second.first_dequeue_time == first.first_dequeue_time
    assert second.receipt_handle != first.receipt_handle
    with pytest.raises(MNSServerException) as info:
        raw_queue.delete_message(first.receipt_handle)
    assert info.value.type == "MessageNotExist"
    assert emu.all_messages(QUEUE)[0].dequeue_count == 2


def test_short_visibility_timeout_wakes_long_poll(emu: MnsEmulator) -> None:
    emu.create_queue("short-vt", visibility_timeout=1)
    q = make_account(emu).get_queue("short-vt")
    q.set_encoding(False)
    q.send_message(Message("short"))
    first = q.receive_message(wait_seconds=0)
    started = time.monotonic()
    second = q.receive_message(wait_seconds=5)  # returns when the message reappears (~1 s)
    elapsed = time.monotonic() - started
    assert second.dequeue_count == 2
    assert 0.5 <= elapsed < 3
    with pytest.raises(MNSServerException) as info:
        q.delete_message(first.receipt_handle)  # used after its NextVisibleTime
    assert info.value.type == "MessageNotExist"


def test_delayed_message_and_queue_polling_wait_default(emu: MnsEmulator) -> None:
    emu.create_queue("delayed", visibility_timeout=30, polling_wait_seconds=5)
    q = make_account(emu).get_queue("delayed")
    q.set_encoding(False)
    q.send_message(Message("later", delay_seconds=1))
    snap = emu.queue_snapshot("delayed")
    assert (snap.visible, snap.delayed) == (0, 1)
    started = time.monotonic()
    got = q.receive_message()  # no waitseconds -> queue PollingWaitSeconds (5)
    assert 0.5 <= time.monotonic() - started < 3
    assert got.message_body == "later" and got.dequeue_count == 1


# --------------------------------------------------------------------------- long polling


def test_long_poll_returns_early_when_another_thread_sends(
    emu: MnsEmulator, raw_queue: Queue
) -> None:
    def poll() -> Any:
        q = make_account(emu).get_queue(QUEUE)
        q.set_encoding(False)
        return q.receive_message(wait_seconds=10)

    done, out = run_in_thread(poll)
    assert emu.wait_for_pollers(QUEUE, 1, timeout=5)
    assert not done.is_set()
    raw_queue.send_message(Message("wake up"))
    assert done.wait(timeout=5), "long poll did not return after the send"
    assert "error" not in out, out.get("error")
    assert out["result"].message_body == "wake up"
    assert out["elapsed"] < 5


def test_long_poll_wakes_when_message_becomes_visible_again(
    emu: MnsEmulator, raw_queue: Queue
) -> None:
    raw_queue.send_message(Message("in flight"))
    raw_queue.receive_message(wait_seconds=0)

    def poll() -> Any:
        q = make_account(emu).get_queue(QUEUE)
        q.set_encoding(False)
        return q.receive_message(wait_seconds=10)

    done, out = run_in_thread(poll)
    assert emu.wait_for_pollers(QUEUE, 1, timeout=5)
    emu.expire_visibility(QUEUE)
    assert done.wait(timeout=5)
    assert out["result"].dequeue_count == 2

    # Same through the SDK: another consumer releases its message with VisibilityTimeout 0.
    held_handle = out["result"].receipt_handle
    done, out = run_in_thread(poll)
    assert emu.wait_for_pollers(QUEUE, 1, timeout=5)
    raw_queue.change_message_visibility(held_handle, 0)
    assert done.wait(timeout=5)
    assert out["result"].dequeue_count == 3


def test_empty_long_poll_times_out_with_message_not_exist(raw_queue: Queue) -> None:
    started = time.monotonic()
    with pytest.raises(MNSServerException) as info:
        raw_queue.receive_message(wait_seconds=1)
    assert info.value.type == "MessageNotExist"
    assert 0.9 <= time.monotonic() - started < 2.5


def test_two_accounts_never_share_an_invisible_message(emu: MnsEmulator, raw_queue: Queue) -> None:
    for start in range(0, 64, 16):
        raw_queue.batch_send_message([Message(f"m{i}") for i in range(start, start + 16)])
    barrier = threading.Barrier(2)

    def drain() -> list[tuple[str, str]]:
        q = make_account(emu).get_queue(QUEUE)
        q.set_encoding(False)
        seen: list[tuple[str, str]] = []
        barrier.wait(timeout=5)
        while True:
            try:
                batch = q.batch_receive_message(3, wait_seconds=0)
            except MNSServerException as exc:
                assert exc.type == "MessageNotExist"
                return seen
            seen += [(m.message_id, m.receipt_handle) for m in batch]

    runs = [run_in_thread(drain) for _ in range(2)]
    for done, _ in runs:
        assert done.wait(timeout=10)
    a, b = ({mid for mid, _ in out["result"]} for _, out in runs)
    assert not a & b
    assert len(a | b) == 64
    assert all(m.dequeue_count == 1 for m in emu.all_messages(QUEUE))
    # Handles travel unencoded in the query string; '+' and '/' must survive.
    handles = [h for _, out in runs for _, h in out["result"]]
    assert any("+" in h or "/" in h for h in handles)
    raw_queue.batch_delete_message(handles[:16])
    for handle in handles[16:]:
        raw_queue.delete_message(handle)
    assert emu.queue_snapshot(QUEUE).total == 0


def test_stop_wakes_pending_long_polls() -> None:
    emulator = MnsEmulator().start()
    emulator.create_queue("stopping")
    q = make_account(emulator).get_queue("stopping")
    done, out = run_in_thread(lambda: q.receive_message(wait_seconds=30))
    assert emulator.wait_for_pollers("stopping", 1, timeout=5)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    assert done.wait(timeout=2)
    assert isinstance(out["error"], MNSServerException | MNSClientNetworkException)


def test_restart_keeps_messages_and_sdk_reconnects(emu: MnsEmulator, raw_queue: Queue) -> None:
    raw_queue.send_message(Message("survives"))
    port = emu.port
    emu.stop()
    with pytest.raises(MNSClientNetworkException):
        raw_queue.peek_message()  # nothing listening
    emu.start()
    assert emu.port == port
    got = raw_queue.receive_message(wait_seconds=0)  # same Account, new connection
    assert got.message_body == "survives"


# --------------------------------------------------------------------------- authentication


def test_wrong_credentials_are_rejected(emu: MnsEmulator) -> None:
    bad_secret = make_account(emu, access_key_secret="wrong").get_queue(QUEUE)
    with pytest.raises(MNSServerException) as info:
        bad_secret.get_attributes()
    assert info.value.type == "SignatureDoesNotMatch"
    assert info.value.request_id
    bad_id = make_account(emu, access_key_id="someone-else").get_queue(QUEUE)
    with pytest.raises(MNSServerException) as info:
        bad_id.send_message(Message("nope"))
    assert info.value.type == "InvalidAccessKeyId"
    assert [r.status for r in emu.request_log] == [403, 403]
    assert emu.queue_snapshot(QUEUE).total == 0


def test_sts_token_required_when_configured() -> None:
    with MnsEmulator(security_token="sts-token-1") as emulator:
        emulator.create_queue(QUEUE)
        for token in ("", "sts-token-2"):
            q = make_account(emulator, security_token=token).get_queue(QUEUE)
            with pytest.raises(MNSServerException) as info:
                q.get_attributes()
            assert info.value.type == "InvalidAccessKeyId"
        ok = make_account(emulator, security_token="sts-token-1").get_queue(QUEUE)
        assert ok.get_attributes().queue_name == QUEUE


def test_optional_sts_token_accepted_when_not_configured(emu: MnsEmulator) -> None:
    q = make_account(emu, security_token="any-token").get_queue(QUEUE)
    assert q.get_attributes().queue_name == QUEUE


def test_clock_skew_is_rejected(emu: MnsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    class SkewedTime:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def gmtime(secs: float | None = None) -> time.struct_time:
            return time.gmtime(time.time() - 16 * 60)

    monkeypatch.setattr(sdk_client_module, "time", SkewedTime())
    with pytest.raises(MNSServerException) as info:
        make_account(emu).get_queue(QUEUE).get_attributes()
    assert info.value.type == "TimeExpired"


def _signed(
    emu: MnsEmulator, method: str, uri: str, body: bytes = b"", content_md5: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request signed exactly like the SDK, bypassing the SDK's own checks."""
    headers = {"x-mns-version": "2015-06-06", "date": formatdate(usegmt=True)}
    if body:
        digest = hashlib.md5(body).hexdigest().encode()
        headers["content-md5"] = content_md5 or base64.b64encode(digest).decode()
        headers["content-type"] = "text/xml;charset=UTF-8"
    string_to_sign = (
        f"{method}\n{headers.get('content-md5', '')}\n{headers.get('content-type', '')}\n"
        f"{headers['date']}\nx-mns-version:2015-06-06\n{uri}"
    )
    mac = hmac.new(emu.access_key_secret.encode(), string_to_sign.encode(), hashlib.sha1)
    headers["Authorization"] = f"MNS {emu.access_key_id}:{base64.b64encode(mac.digest()).decode()}"
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        conn.request(method, uri, body or None, headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_wire_details_request_id_md5_and_case_insensitive_params(emu: MnsEmulator) -> None:
    status, headers, body = _signed(emu, "GET", f"/queues/{QUEUE}")
    assert status == 200 and headers["x-mns-request-id"]
    status, headers, body = _signed(
        emu,
        "POST",
        f"/queues/{QUEUE}/messages",
        b"<Message><MessageBody>x</MessageBody></Message>",
        content_md5="bm90LXRoZS1tZDU=",
    )
    assert status == 400 and b"<Code>InvalidDegist</Code>" in body
    assert headers["x-mns-request-id"] and b"<HostId>" in body and b"<RequestId>" in body
    status, _, body = _signed(
        emu, "POST", f"/queues/{QUEUE}/messages", b"<Message><MessageBody>x</MessageBody></Message>"
    )
    assert status == 201
    status, _, body = _signed(emu, "GET", f"/queues/{QUEUE}/messages?WAITSECONDS=0&NumOfMessages=2")
    assert status == 200 and body.count(b"<ReceiptHandle>") == 1
    status, _, body = _signed(emu, "GET", f"/queues/{QUEUE}/messages?waitseconds=31")
    assert status == 400 and b"InvalidArgument" in body
    status, headers, body = _signed(emu, "GET", "/topics/nope")
    assert status == 400 and headers["x-mns-request-id"]


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalError", 500), ("ServiceUnavailable", 503), ("QpsLimitExceeded", 503)],
)
def test_fault_error_is_server_exception(
    emu: MnsEmulator, raw_queue: Queue, code: str, status: int
) -> None:
    fault = emu.faults.add(op="SendMessage", kind="error", code=code)
    with pytest.raises(MNSServerException) as info:
        raw_queue.send_message(Message("first"))
    assert info.value.type == code
    assert emu.request_log[-1][1:] == ("SendMessage", QUEUE, status)
    assert fault.fired == 1 and emu.faults.active == []
    assert emu.queue_snapshot(QUEUE).total == 0  # rejected before it took effect
    raw_queue.send_message(Message("second"))  # one-shot by default
    assert emu.queue_snapshot(QUEUE).visible == 1


def test_fault_error_after_dequeue_loses_the_batch_until_vt(
    emu: MnsEmulator, raw_queue: Queue
) -> None:
    raw_queue.batch_send_message([Message("a"), Message("b")])
    emu.faults.add(op="BatchReceiveMessage", kind="error", status=500, drop_after_dequeue=True)
    with pytest.raises(MNSServerException) as info:
        raw_queue.batch_receive_message(16, wait_seconds=0)
    assert info.value.type == "InternalError"
    snap = emu.queue_snapshot(QUEUE)
    assert (snap.visible, snap.inflight) == (0, 2)


def test_fault_drop_before_dequeue_keeps_message_visible(
    emu: MnsEmulator, raw_queue: Queue
) -> None:
    raw_queue.send_message(Message("keep"))
    emu.faults.add(op="ReceiveMessage", kind="drop")
    with pytest.raises(MNSClientNetworkException) as info:
        raw_queue.receive_message(wait_seconds=0)
    assert info.value.type == "NetWorkException"
    assert emu.queue_snapshot(QUEUE).visible == 1
    assert emu.request_log[-1][1:] == ("ReceiveMessage", QUEUE, 0)
    got = raw_queue.receive_message(wait_seconds=0)  # the SDK reconnects by itself
    assert got.dequeue_count == 1


def test_fault_drop_after_dequeue_client_never_sees_batch(
    emu: MnsEmulator, raw_queue: Queue
) -> None:
    raw_queue.batch_send_message([Message(f"m{i}") for i in range(3)])
    emu.faults.add(op="BatchReceiveMessage", kind="drop", drop_after_dequeue=True)
    with pytest.raises(MNSClientNetworkException):
        raw_queue.batch_receive_message(16, wait_seconds=0)
    snap = emu.queue_snapshot(QUEUE)
    assert (snap.visible, snap.inflight) == (0, 3)
    assert all(m.dequeue_count == 1 for m in emu.all_messages(QUEUE))
    emu.expire_visibility(QUEUE)
    again = raw_queue.batch_receive_message(16, wait_seconds=0)
    assert sorted(m.dequeue_count for m in again) == [2, 2, 2]


def test_fault_drop_with_fin_is_retried_silently_by_sdk(emu: MnsEmulator, raw_queue: Queue) -> None:
    raw_queue.batch_send_message([Message("first"), Message("second")])
    emu.faults.add(op="ReceiveMessage", kind="drop", reset=False, drop_after_dequeue=True)
    got = raw_queue.receive_message(wait_seconds=0)  # no exception: SDK re-sent once
    assert got.message_body == "second"
    statuses = [r.status for r in emu.request_log if r.op == "ReceiveMessage"]
    assert statuses == [0, 200]
    lost = [m for m in emu.all_messages(QUEUE) if m.body == "first"]
    assert lost[0].state == "inflight" and lost[0].dequeue_count == 1


def test_fault_drop_on_send_after_apply_stores_message(emu: MnsEmulator, raw_queue: Queue) -> None:
    emu.faults.add(op="SendMessage", kind="drop", drop_after_dequeue=True)
    with pytest.raises(MNSClientNetworkException):
        raw_queue.send_message(Message("maybe sent"))
    assert [m.body for m in emu.all_messages(QUEUE)] == ["maybe sent"]


def test_fault_delay_slows_response_and_can_time_out_client(emu: MnsEmulator) -> None:
    q = make_account(emu).get_queue(QUEUE)
    emu.faults.add(op="GetQueueAttributes", kind="delay", delay=0.3)
    started = time.monotonic()
    q.get_attributes()
    assert time.monotonic() - started >= 0.3

    impatient = make_account(emu, timeout=0.2).get_queue(QUEUE)
    emu.faults.add(op="GetQueueAttributes", kind="delay", delay=0.6)
    with pytest.raises(MNSClientNetworkException) as info:
        impatient.get_attributes()
    assert "timed out" in info.value.message


def test_fault_instant_empty_ignores_waitseconds(emu: MnsEmulator, raw_queue: Queue) -> None:
    raw_queue.send_message(Message("there"))
    emu.faults.add(op="BatchReceiveMessage", kind="instant_empty")
    started = time.monotonic()
    with pytest.raises(MNSServerException) as info:
        raw_queue.batch_receive_message(16, wait_seconds=10)
    assert info.value.type == "MessageNotExist"
    assert time.monotonic() - started < 1
    assert emu.queue_snapshot(QUEUE).visible == 1


def test_fault_rules_matching_probability_and_clear(emu: MnsEmulator, raw_queue: Queue) -> None:
    emu.faults.add(kind="error", probability=0.0)  # armed, never fires
    raw_queue.send_message(Message("ok"))
    emu.faults.clear()
    emu.faults.add(kind="error", code="ServiceUnavailable", times=2, probability=1.0)
    for call in (raw_queue.get_attributes, lambda: raw_queue.receive_message(wait_seconds=0)):
        with pytest.raises(MNSServerException) as info:
            call()
        assert info.value.type == "ServiceUnavailable"
    raw_queue.peek_message()  # the rule expired after two firings
    emu.faults.add(op="DeleteMessage", kind="error", queue="other-queue")
    got = raw_queue.receive_message(wait_seconds=0)
    raw_queue.delete_message(got.receipt_handle)  # queue filter did not match
    assert len(emu.faults.active) == 1
    emu.faults.clear()
    assert emu.faults.active == []
    with pytest.raises(ValueError):
        emu.faults.add(op="NoSuchOp")


# --------------------------------------------------------------------------- CLI, speed


def test_serve_forever_cli_prints_env_and_serves() -> None:
    out = io.StringIO()
    stop = threading.Event()
    ready = threading.Event()
    seen: dict[str, Any] = {}

    def on_ready(emulator: MnsEmulator) -> None:
        seen["emu"] = emulator
        ready.set()

    done, result = run_in_thread(
        lambda: serve_forever_cli(0, "cli-queue", out=out, stop_event=stop, on_ready=on_ready)
    )
    assert ready.wait(timeout=5)
    emulator: MnsEmulator = seen["emu"]
    text = out.getvalue()
    assert f"export VODHOOK_MNS_ENDPOINT={emulator.endpoint}" in text
    assert "export VODHOOK_MNS_QUEUE=cli-queue" in text
    assert "export ALIBABA_CLOUD_ACCESS_KEY_ID=sandbox-ak" in text
    assert "export ALIBABA_CLOUD_ACCESS_KEY_SECRET=sandbox-secret" in text
    q = make_account(emulator).get_queue("cli-queue")
    q.send_message(Message("via cli"))
    assert q.receive_message_with_str_body(wait_seconds=0).message_body == "via cli"
    stop.set()
    assert done.wait(timeout=5)
    assert "error" not in result
    assert not emulator.running


def test_round_trips_are_fast(emu: MnsEmulator, raw_queue: Queue) -> None:
    """Guards against Nagle/delayed-ACK stalls (~40 ms per call) creeping back in."""
    started = time.perf_counter()
    for _ in range(100):
        raw_queue.send_message(Message("x"))
        got = raw_queue.receive_message(wait_seconds=0)
        raw_queue.delete_message(got.receipt_handle)
    per_call_ms = (time.perf_counter() - started) / 300 * 1000
    assert per_call_ms < 5, f"{per_call_ms:.2f} ms per SDK call"
