"""A token bucket per API key, in the API process's memory: with several API processes
each enforces the rate on its own share of the traffic."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_second: float, burst: int):
        self.rate, self.burst = per_second, burst
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self.lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """0 if the request may go ahead (and takes a token), else the seconds to wait."""
        if self.rate <= 0:
            return 0
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                return 0
            self.buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
