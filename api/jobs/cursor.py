"""The opaque cursor of GET /jobs: where the last page ended, in the order it was sorted by.

A cursor holds the sort, the sort key of the last job sent and that job's id. The next page
starts strictly after that (key, id) pair, so jobs that share a creation time (or a name)
are neither skipped nor repeated, and jobs created meanwhile never shift the pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Cursor:
    sort: str
    key: str  # the last job's sort key: its creation time (ISO 8601, UTC) or its lower-cased name
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.key, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor ``encode`` wrote; ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor = cls(*json.loads(raw))
            if not all(isinstance(v, str) for v in (cursor.sort, cursor.key, cursor.id)):
                raise TypeError(cursor)
            if cursor.sort.lstrip("-") == "created_at":
                cursor.time()  # a time that does not parse is refused here, not in the query
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError) as exc:
            raise ValueError("not a cursor of this API; pass the next_cursor of the previous page "
                             "unchanged") from exc
        return cursor

    def time(self) -> datetime:
        return as_utc(datetime.fromisoformat(self.key))

    @classmethod
    def after(cls, sort: str, key: Any, job_id: str) -> Cursor:
        """The cursor after a job whose sort key the database returned as ``key``."""
        return cls(sort, as_utc(key).isoformat() if isinstance(key, datetime) else str(key), job_id)


def as_utc(when: datetime) -> datetime:
    """An aware UTC time; a naive one is taken as UTC (how SQLite hands stored times back)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
