"""Webhooks: which destinations are allowed, how a delivery is signed and how a receiver checks it.

A delivery is a POST of a JSON body with the header

    X-Optarena-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is inside what is signed, so a receiver that refuses signatures older than
REPLAY_WINDOW_SECONDS (``verify`` does) cannot be fed an old delivery again. ``X-Optarena-Delivery``
names the delivery (job id and status): the same for every attempt of it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SIGNATURE_HEADER = "X-Optarena-Signature"
DELIVERY_HEADER = "X-Optarena-Delivery"
REPLAY_WINDOW_SECONDS = 300


class Notify(BaseModel):
    """A job's ``notify``: where its end is POSTed, and the secret that signs the POST."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(max_length=2000, description="http(s) URL on an allowed host")
    secret: str = Field(min_length=16, max_length=200, description="signs each delivery (HMAC-SHA256)")


def read(data: Any) -> tuple[Notify | None, list[dict[str, Any]]]:
    """A body's ``notify`` value, or pydantic-style errors located from the body's top."""
    try:
        return Notify.model_validate(data), []
    except ValidationError as exc:
        return None, [{"loc": ["notify", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                      for e in exc.errors(include_url=False)]


def refusal(url: str, allowed_hosts: list[str]) -> str | None:
    """Why ``url`` may not receive webhooks, or None. Only http(s), to an allow-listed host:
    the service must not become a way to reach a network its users cannot."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as e:
        return f"not a URL: {e}"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} refused; use http or https"
    if not host:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are refused; sign with the secret instead"
    if not any(_matches(host, pattern) for pattern in allowed_hosts):
        return (f"host {host!r} is not allowed; allowed: {', '.join(allowed_hosts) or '(none)'} "
                "(OPTARENA_WEBHOOK_ALLOWED_HOSTS)")
    return None


def _matches(host: str, pattern: str) -> bool:
    """``pattern`` is a host name or address, or ``*.domain`` for the domain's subdomains."""
    host, pattern = host.lower().rstrip("."), pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern.strip("[]")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           window: float = REPLAY_WINDOW_SECONDS) -> bool:
    """What a receiver runs: the signature matches and its timestamp is within ``window`` seconds."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > window:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")
