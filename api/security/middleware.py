"""ASGI middlewares: the API key check (with the per-key rate) and the body size limit.

Both run before routing, so a route added later is protected without opting in, and a
streaming response is never wrapped.
"""

from __future__ import annotations

import ipaddress
from http.cookies import SimpleCookie

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security.keystore import KeyStore
from api.security.paths import is_public
from api.security.ratelimit import limiter_for
from api.security.replies import SESSION_COOKIE, UNAUTHORIZED, send_json
from core.settings import Settings

DB_DOWN = "the database is unreachable; retry shortly"


def presented_key(scope: Scope) -> str | None:
    """The bearer token, else the session cookie (browsers' EventSource sends no headers)."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed cookie header is no key
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _loopback(addr: tuple[str, int] | list | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr[0]).is_loopback
    except ValueError:
        return False


def from_this_machine(scope: Scope) -> bool:
    """Loopback at both ends: where the `make run` key is accepted."""
    return _loopback(scope.get("client")) and _loopback(scope.get("server"))


class AuthMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app, self.keys = app, KeyStore(settings.database_url)
        self.limiter = limiter_for(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["method"], scope["path"]):
            return await self.app(scope, receive, send)
        key = presented_key(scope)
        try:
            principal = await run_in_threadpool(self.keys.principal, key) if key else None
        except DBAPIError:
            return await send_json(send, 503, DB_DOWN, {"Retry-After": "5"})
        # The `make run` key is for this machine only, whatever address the API listens on.
        if principal is not None and principal.local and not from_this_machine(scope):
            principal = None
        if principal is None:
            return await send_json(send, 401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
        wait = await self.limiter.check(principal.prefix)
        if wait:
            return await send_json(send, 429, f"too many requests for this key; retry in {wait} s "
                                   "(OPTARENA_RATE_LIMIT_PER_SECOND)", {"Retry-After": str(wait)})
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 above ``limit`` bytes, whether announced by Content-Length or sent chunked.

    ``routes`` gives single routes, matched exactly by method and path, a limit of their own
    and the setting that names it: {("POST", "/datasets"): (5_000_000, "OPTARENA_MAX_DATASET_BYTES")}.
    """

    def __init__(self, app: ASGIApp, limit: int,
                 routes: dict[tuple[str, str], tuple[int, str]] | None = None):
        self.app, self.limit, self.routes = app, limit, dict(routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit, setting = self.routes.get((scope["method"], scope["path"]),
                                         (self.limit, "OPTARENA_MAX_BODY_BYTES"))
        too_big = f"request body above {limit} bytes ({setting})"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await send_json(send, 413, too_big)
        # Read the body here (at most ``limit`` bytes are ever held) and replay it to the app.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await send_json(send, 413, too_big)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
