"""Security cases every signed source must pass (django-anymail's shared-suite pattern).

A source's test class inherits `SignedSourceSecurityCases` and provides `deliver()` and
`stored_count()`; the cases then run against it unchanged.
"""

from __future__ import annotations

import time
from typing import Any

from receiver.events import sample_event
from tests.support import AUTH_KEY, signed_headers


class SignedSourceSecurityCases:
    url: str

    def deliver(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        raise NotImplementedError

    def stored_count(self) -> int:
        raise NotImplementedError

    def _body(self) -> dict[str, Any]:
        return sample_event("FileUploadComplete")

    def test_valid_signature_is_stored(self) -> None:
        before = self.stored_count()
        assert self.deliver(self._body(), signed_headers(self.url)) == 200
        assert self.stored_count() == before + 1

    def test_missing_headers_rejected(self) -> None:
        before = self.stored_count()
        assert self.deliver(self._body(), {"content-type": "application/json"}) == 401
        assert self.stored_count() == before

    def test_wrong_key_rejected(self) -> None:
        before = self.stored_count()
        assert self.deliver(self._body(), signed_headers(self.url, key="WrongKey999xx")) == 401
        assert self.stored_count() == before

    def test_stale_and_future_timestamps_rejected(self) -> None:
        before = self.stored_count()
        now = int(time.time())
        for ts in (now - 3600, now + 3600):
            assert self.deliver(self._body(), signed_headers(self.url, timestamp=ts)) == 401
        assert self.stored_count() == before

    def test_signature_for_another_url_rejected(self) -> None:
        before = self.stored_count()
        headers = signed_headers(self.url + "/other", key=AUTH_KEY)
        assert self.deliver(self._body(), headers) == 401
        assert self.stored_count() == before
