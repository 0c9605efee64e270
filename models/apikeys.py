"""API keys: created, listed, revoked and checked. Only a key's SHA-256 is stored.

A key reads ``oa_<prefix>_<secret>``. The prefix is not secret: it finds the row and
names the key in listings. The secret has 256 bits of entropy, so a plain SHA-256
(no slow hash) is enough: there is nothing to guess a dictionary word from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.tables import ApiKey, utcnow

KEY_PREFIX = "oa_"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the key's owner; ``local`` for the `make run` key."""

    owner: str
    prefix: str
    local: bool = False


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key.removeprefix(KEY_PREFIX).partition("_")
    return prefix if sep and len(prefix) == 8 and len(secret) >= 32 else None


def create(session: Session, name: str, owner: str | None = None, *, local: bool = False,
           parent_id: int | None = None) -> str:
    """Add a key (no commit) and return it: the only time it is ever visible."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(prefix=prefix, key_hash=digest(key), name=name, owner=owner or name,
                       local=local, parent_id=parent_id, created_at=utcnow()))
    return key


def verify(session: Session, key: str) -> Principal | None:
    prefix = split(key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if row is None or not hmac.compare_digest(row.key_hash, digest(key)):
        return None
    return Principal(row.owner, row.prefix, row.local)


def active(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)))


def local_key(session: Session) -> ApiKey | None:
    """The active key `make run` created (not one a browser got from its sign-in link)."""
    return session.scalar(select(ApiKey).where(ApiKey.local, ApiKey.parent_id.is_(None),
                                               ApiKey.revoked_at.is_(None)).order_by(ApiKey.id))


def revoke(session: Session, prefix: str) -> bool:
    """Revoke the key, and the keys browsers got by sign-in link in its name."""
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if key_id is None:
        return False
    session.execute(update(ApiKey).where((ApiKey.id == key_id) | (ApiKey.parent_id == key_id),
                                         ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return True
