"""What the API's answers mean to the client: errors, and when to come back (``Retry-After``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from optarena.plan import Call, Pause, Plan

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A 4xx/5xx answer, with the API's detail (a message or a list of field errors)."""

    def __init__(self, status: int, detail: Any, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.retry_after = status, detail, retry_after


def retry_delay(resp: httpx.Response) -> float | None:
    """The seconds a 429 or 503 asks the client to wait (``Retry-After``: seconds or an HTTP
    date), or None for any other answer or one that does not say."""
    if resp.status_code not in (429, 503):
        return None
    raw = resp.headers.get("retry-after", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def checked(resp: httpx.Response) -> httpx.Response:
    """The response, or ApiError for a 4xx/5xx one."""
    if resp.status_code < 400:
        return resp
    try:
        detail = resp.json().get("detail", resp.text)
    except (ValueError, AttributeError):
        detail = resp.text
    raise ApiError(resp.status_code, detail, retry_delay(resp))


def exchange(call: Call, retries: int, longest: float) -> Plan[httpx.Response]:
    """The answer, once the server stops asking to come back later, or ``retries`` such
    answers have been waited out, or it asks for a longer wait than ``longest`` seconds. A
    429 or 503 means the request was not carried out, so sending it again is safe, a POST too."""
    left = retries
    while True:
        resp = yield call
        delay = retry_delay(resp)
        if delay is None or left <= 0 or delay > longest:
            return checked(resp)
        left -= 1
        yield Pause(delay)


def validated(model: type[M], answer: Plan[Any]) -> Plan[M]:
    """``answer``'s JSON as ``model``."""
    return model.model_validate((yield from answer))
