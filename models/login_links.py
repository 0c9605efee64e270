"""One-time sign-in links: the token `make run` prints, exchanged once at GET /login for a key
that the browser keeps in its session cookie.

Only the token's SHA-256 is stored, with its expiry and the local key it stands for; the token
itself is shown once, in the link. Opening the link spends the token with a conditional UPDATE
(``... WHERE used_at IS NULL``): however many requests bring it at once, the database lets one
of them change the row, on SQLite and PostgreSQL alike, and only that one signs in. It gets a
new key of the local key's owner, recorded as that key's child, so revoking the local key signs
its browsers out too (models/apikeys.py). No usable secret is stored: the browser's key, like
every key, is kept as its hash only.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import apikeys
from models.base import Base
from models.tables import ApiKey, utcnow

LIFETIME = timedelta(minutes=10)
BROWSER_KEY_NAME = "browser (sign-in link)"


class LoginLink(Base):
    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def mint(session: Session, lifetime: timedelta = LIFETIME) -> str | None:
    """A new link token for the local key (no commit), or None while there is no local key.
    Spent and expired links, which can no longer sign anyone in, are deleted on the way."""
    key = apikeys.local_key(session)
    if key is None:
        return None
    now = utcnow()
    session.execute(delete(LoginLink).where(LoginLink.used_at.is_not(None) | (LoginLink.expires_at <= now)))
    token = secrets.token_urlsafe(32)
    session.add(LoginLink(token_hash=apikeys.digest(token), key_id=key.id, created_at=now,
                          expires_at=now + lifetime))
    return token


def redeem(session: Session, token: str) -> str | None:
    """Spend the token (no commit) and return the new key for the browser; None if the token is
    unknown, expired, already spent, or its local key has been revoked since."""
    now, token_hash = utcnow(), apikeys.digest(token)
    spent = session.execute(update(LoginLink)
                            .where(LoginLink.token_hash == token_hash, LoginLink.used_at.is_(None),
                                   LoginLink.expires_at > now)
                            .values(used_at=now))
    if spent.rowcount != 1:
        return None
    local = session.scalar(select(ApiKey).join(LoginLink, LoginLink.key_id == ApiKey.id)
                           .where(LoginLink.token_hash == token_hash, ApiKey.local,
                                  ApiKey.revoked_at.is_(None)))
    if local is None:
        return None
    return apikeys.create(session, BROWSER_KEY_NAME, local.owner, local=True, parent_id=local.id)
