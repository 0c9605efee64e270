"""The embedded default's local key must never serve a non-loopback address."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from core.settings import Settings
from models.db import session_factory
from models.tables import ApiKey


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenLocalCredentials(RuntimeError):
    pass


def refuse_open_local_keys(settings: Settings) -> None:
    """Refuse to start on a non-loopback ``bind_host`` while an auto-created local key is active.
    (Requests with such a key from elsewhere are refused anyway, by the auth middleware.)"""
    if is_loopback(settings.bind_host):
        return
    try:
        with session_factory(settings.database_url)() as session:
            local = session.scalar(select(ApiKey.prefix).where(ApiKey.local, ApiKey.revoked_at.is_(None)))
    except DBAPIError:
        return  # no schema yet or no database: nothing can authenticate, /readyz says why
    if local is not None:
        raise OpenLocalCredentials(
            f"refusing to serve {settings.bind_host}: the local key {local} created by `make run` is "
            f"active; revoke it (`optarena keys revoke {local}`) and create named keys, or bind 127.0.0.1")
