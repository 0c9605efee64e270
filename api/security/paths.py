"""Which requests need no API key: health, the docs, signing in (form or link) and out, the
dashboard shell."""

from __future__ import annotations

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def is_public(method: str, path: str) -> bool:
    if path in PUBLIC_PATHS:
        return True
    if path == "/session":
        return method in ("POST", "DELETE")
    if path == "/login":  # the sign-in link `make run` prints; it checks its token itself
        return method == "GET"
    if path == "/":
        return method in ("GET", "HEAD")
    # The dashboard's static files: the page itself must load before the user signs in.
    return path == "/ui" or path.startswith("/ui/")
