"""Response bodies of a finished job's read routes, computed once and shared by every API process.

A row is written only once the job can no longer change (api/cache.py decides), so a row is
never stale; it goes with its job (ON DELETE CASCADE). ``key`` is a hash of the route and its
normalized query; the owner is not part of it, because the route checks ownership before it
reads here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.tables import utcnow


class CachedResponse(Base):
    __tablename__ = "response_cache"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64))
    etag: Mapped[str] = mapped_column(String(80))
    # len(body), kept so the per-job byte budget is a sum over a column, not over blobs.
    size: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
