"""Which webhook destinations are refused, and what a receiver's signature check accepts."""

import time

import pytest

from core.webhooks import refusal, signature, verify

LOOPBACK = ["127.0.0.1", "::1", "localhost"]


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://127.0.0.1/hook", "scheme 'ftp'"),
    ("127.0.0.1:9000/hook", "scheme"),
    ("http:///hook", "no host"),
    ("http://user:pw@127.0.0.1/hook", "credentials"),
    ("http://10.0.0.7/hook", "host '10.0.0.7' is not allowed"),
    ("http://169.254.169.254/latest/meta-data", "not allowed"),
    ("http://localhost.evil.example/hook", "not allowed"),
    ("http://127.0.0.1:99999/hook", "not a URL"),
])
def test_refused_destinations_say_why(url, why):
    reason = refusal(url, LOOPBACK)
    assert reason is not None and why in reason, reason


def test_allowed_destinations():
    assert refusal("http://127.0.0.1:8123/hook?x=1", LOOPBACK) is None
    assert refusal("https://[::1]/hook", LOOPBACK) is None
    assert refusal("https://hooks.example.org/h", ["*.example.org"]) is None
    assert refusal("https://example.org.evil.test/h", ["*.example.org"]) is not None


def test_a_signature_holds_for_its_body_and_secret_within_the_window():
    body, now = b'{"job":{"id":"j","status":"succeeded"}}', time.time()
    header = signature("s3cret", int(now), body)
    assert verify("s3cret", header, body, now=now + 299)
    assert not verify("s3cret", header, body, now=now + 301)  # a replay after the window
    assert not verify("other", header, body, now=now)
    assert not verify("s3cret", header, body.replace(b"succeeded", b"failed"), now=now)
    assert not verify("s3cret", header.replace(f"t={int(now)}", f"t={int(now) + 1}"), body, now=now)
    assert not verify("s3cret", "garbage", body, now=now)
