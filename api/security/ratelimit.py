"""A token bucket per API key: ``rate_limit_burst`` tokens, refilled at
``rate_limit_per_second``; a request takes one, or waits (429 with Retry-After).

With Redis as the broker the buckets live in Redis, so every API process (``uvicorn
--workers N``, or several machines) spends one budget per key. Otherwise each process keeps
its own, in memory, and enforces the rate on its own share of the traffic: with N processes
a key may send up to N times the rate.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import redis
from starlette.concurrency import run_in_threadpool

from core.settings import Settings

log = logging.getLogger(__name__)


class RateLimiter:
    """The buckets in this process's memory."""

    def __init__(self, per_second: float, burst: int):
        self.rate, self.burst = per_second, burst
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self.lock = threading.Lock()

    async def check(self, key: str) -> int:
        return self.retry_after(key)

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


# The same bucket as RateLimiter's, read and written in one step inside Redis (a script runs
# alone), on Redis's clock so that API hosts' clocks need not agree. Returns the seconds to
# wait as a string (a Lua number would come back truncated to an integer); 0 = go ahead. An
# idle key's bucket expires once it would be full again, which is the same as keeping it.
TOKEN_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1e6
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""
KEY = "optarena:ratelimit:{}"
RETRY_REDIS_SECONDS = 5.0


class RedisRateLimiter:
    """The buckets in Redis, shared by every API process. While Redis cannot be reached the
    process falls back to its own buckets (a broker outage must not stop the API: submitted
    jobs wait in the database for the sweeper) and tries Redis again after a few seconds."""

    def __init__(self, url: str, per_second: float, burst: int):
        self.rate, self.burst = per_second, burst
        # Short timeouts: a request waits at most this long before the fallback takes over.
        self.client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self.script = self.client.register_script(TOKEN_BUCKET)
        self.local = RateLimiter(per_second, burst)
        self.down_until = 0.0

    async def check(self, key: str) -> int:
        if time.monotonic() < self.down_until:
            return self.local.retry_after(key)
        return await run_in_threadpool(self.retry_after, key)  # a network round trip

    def retry_after(self, key: str) -> int:
        try:
            wait = float(self.script(keys=[KEY.format(key)], args=[self.rate, self.burst]))
        except redis.RedisError as exc:
            log.warning("rate limit: Redis unreachable (%s); this process counts on its own for "
                        "%.0f s", exc, RETRY_REDIS_SECONDS)
            self.down_until = time.monotonic() + RETRY_REDIS_SECONDS
            return self.local.retry_after(key)
        return 0 if wait <= 0 else max(1, math.ceil(wait))


def limiter_for(settings: Settings) -> RateLimiter | RedisRateLimiter:
    """Shared buckets when the broker is Redis (and there is a rate to enforce)."""
    rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
    if rate > 0 and settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(settings.broker_url, rate, burst)
    return RateLimiter(rate, burst)
