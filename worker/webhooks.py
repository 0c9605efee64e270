"""Sending webhooks: a thread in every worker that delivers the due rows of webhook_deliveries.

Each pass claims due rows with a conditional UPDATE (pending -> sending, one more attempt), so
with several workers each attempt is made by one of them; POSTs the signed job summary
(core/webhooks.py); and records the outcome: delivered on a 2xx, else pending again after an
exponential backoff, or failed once out of attempts. A row left 'sending' by a worker that
stopped mid-attempt becomes 'unknown' and is never sent again: a status is delivered at most
once, and a receiver can tell attempts of one delivery apart by X-Optarena-Delivery anyway.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.settings import Settings
from core.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, refusal, signature
from models.tables import Job, utcnow
from models.webhooks import JobWebhook, WebhookDelivery

log = logging.getLogger(__name__)

PER_PASS = 20  # deliveries claimed per pass: a slow receiver delays the rest by at most this many timeouts


def payload(job: Job, status: str) -> dict[str, Any]:
    """What a receiver gets: the job's identity and outcome, and where to read the rest."""
    def iso(t: Any) -> str | None:
        return t.isoformat() if t is not None else None

    return {"delivery": f"{job.id}:{status}", "event": f"job.{status}",
            "job": {"id": job.id, "status": status, "preset": job.preset, "n_runs": job.n_runs,
                    "steps": job.steps, "error": job.error, "created_at": iso(job.created_at),
                    "started_at": iso(job.started_at), "finished_at": iso(job.finished_at)},
            "links": {"job": f"/jobs/{job.id}", "results": f"/jobs/{job.id}/results"}}


def claim(session: Session) -> list[int]:
    now = utcnow()
    due = (select(WebhookDelivery.id).where(WebhookDelivery.state == "pending",
                                            WebhookDelivery.next_attempt_at <= now)
           .order_by(WebhookDelivery.id).limit(PER_PASS))
    q = (update(WebhookDelivery)
         .where(WebhookDelivery.id.in_(due.scalar_subquery()), WebhookDelivery.state == "pending")
         .values(state="sending", claimed_at=now, attempts=WebhookDelivery.attempts + 1)
         .returning(WebhookDelivery.id))
    return sorted(int(i) for i in session.scalars(q))


def abandon_stale(session: Session, settings: Settings) -> int:
    """'sending' rows whose worker stopped mid-attempt: it may have arrived, so never again."""
    cutoff = utcnow() - timedelta(seconds=settings.webhook_timeout_seconds * 3 + 10)
    d = WebhookDelivery
    q = (update(d).where(d.state == "sending", d.claimed_at < cutoff)
         .values(state="unknown", last_error="the worker stopped during the attempt; it may have arrived"))
    return session.execute(q).rowcount or 0


def attempt(settings: Settings, url: str, secret: str, body: bytes,
            delivery: str) -> tuple[int | None, str | None]:
    """(HTTP status, error): error is None for a 2xx."""
    reason = refusal(url, settings.webhook_allowed_hosts)  # the allow-list may have changed since
    if reason is not None:
        return None, reason
    headers = {"Content-Type": "application/json", "User-Agent": "optarena-webhook",
               SIGNATURE_HEADER: signature(secret, int(time.time()), body), DELIVERY_HEADER: delivery}
    try:
        r = httpx.post(url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds,
                       follow_redirects=False)
    except httpx.HTTPError as e:
        return None, f"{type(e).__name__}: {e}"
    return r.status_code, None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"


def deliver(sessions: Callable[[], Session], settings: Settings, delivery_id: int) -> None:
    with sessions() as session:
        d = session.get(WebhookDelivery, delivery_id)
        hook = session.get(JobWebhook, d.job_id) if d is not None else None
        job = session.get(Job, d.job_id) if d is not None else None
        if d is None or hook is None or job is None:
            return  # the job was deleted meanwhile
        body = json.dumps(payload(job, d.status), separators=(",", ":")).encode()
        url, secret, name, attempts = hook.url, hook.secret, f"{d.job_id}:{d.status}", d.attempts
    code, error = attempt(settings, url, secret, body, name)
    values: dict[str, Any] = {"response_status": code, "last_error": error}
    if error is None:
        values |= {"state": "delivered", "delivered_at": utcnow()}
    elif attempts >= settings.webhook_max_attempts or (code is None and "not allowed" in error):
        values |= {"state": "failed"}
    else:
        delay = settings.webhook_backoff_seconds * 2 ** (attempts - 1)
        values |= {"state": "pending", "next_attempt_at": utcnow() + timedelta(seconds=delay)}
    with sessions() as session, session.begin():
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                      WebhookDelivery.state == "sending").values(**values))
    (log.info if error is None else log.warning)("webhook %s attempt %d: %s", name, attempts, error or code)


def deliver_due(sessions: Callable[[], Session], settings: Settings) -> int:
    """One pass; returns how many attempts were made."""
    with sessions() as session, session.begin():
        abandon_stale(session, settings)
        ids = claim(session)
    for delivery_id in ids:
        deliver(sessions, settings, delivery_id)
    return len(ids)


class Notifier(threading.Thread):
    def __init__(self, sessions: Callable[[], Session], settings: Settings):
        super().__init__(name="optarena-webhooks", daemon=True)
        self.sessions, self.settings = sessions, settings
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.webhook_poll_seconds):
            try:
                deliver_due(self.sessions, self.settings)
            except Exception:  # noqa: BLE001 - database away: try again next period
                log.warning("webhooks: pass failed; retrying", exc_info=True)
