"""Looking a key up in the database, with a short cache so a stream of requests does not
query the key table for each one. A revoked key stops working within ``TTL`` seconds."""

from __future__ import annotations

import threading
import time

from models import apikeys
from models.apikeys import Principal
from models.db import session_factory

TTL = 2.0
MAX_CACHED = 10_000


class KeyStore:
    def __init__(self, database_url: str):
        self.sessions = session_factory(database_url)
        self.cache: dict[str, tuple[Principal, float]] = {}
        self.lock = threading.Lock()

    def principal(self, key: str) -> Principal | None:
        """Blocking (call it from a thread); raises the database's error when it is down."""
        digest = apikeys.digest(key)
        now = time.monotonic()
        with self.lock:
            hit = self.cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.sessions() as session:
            found = apikeys.verify(session, key)
        # Only hits are cached: random wrong keys must not grow the cache.
        if found is not None:
            with self.lock:
                if len(self.cache) >= MAX_CACHED:
                    self.cache.clear()
                self.cache[digest] = (found, now + TTL)
        return found
