"""The API docs, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with their JavaScript and CSS
served by this API from the installed fastapi-offline package. FastAPI's own pages load them
from a CDN, which leaves a blank page on a machine without internet."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

DOCS, REDOC, OAUTH2_REDIRECT = "/docs", "/redoc", "/docs/oauth2-redirect"
# Under /ui/, the dashboard's public prefix: the docs pages are public, so are their assets.
ASSETS = "/ui/docs"
# The pages may load from this API only. ReDoc's bundle still asks a CDN for its sidebar logo (it
# hides the image when that fails); this policy stops the request in the browser. It is not an
# XSS defence: the bundles need inline script, eval and blob: workers, all allowed.
ONLY_THIS_HOST = "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:"
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
         "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}


@cache
def assets_dir() -> Path:
    """fastapi_offline/static, located without importing the package (nothing there is used)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise HTTPException(503, "the fastapi-offline package is not installed; pip install fastapi-offline")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _root(request: Request) -> str:
    # Behind a proxy with a path prefix, every URL the page loads needs it too.
    return request.scope.get("root_path", "").rstrip("/")


@router.get(DOCS)
def swagger_ui(request: Request) -> HTMLResponse:
    root, app = _root(request), request.app
    assets = root + ASSETS
    page = get_swagger_ui_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png", oauth2_redirect_url=root + OAUTH2_REDIRECT,
        init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=app.swagger_ui_parameters)
    page.headers["Content-Security-Policy"] = ONLY_THIS_HOST
    return page


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(REDOC)
def redoc(request: Request) -> HTMLResponse:
    root, app = _root(request), request.app
    # No Google Fonts either: ReDoc falls back to the system's fonts.
    page = get_redoc_html(openapi_url=root + app.openapi_url, title=f"{app.title} - ReDoc",
                          redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
                          redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False)
    page.headers["Content-Security-Policy"] = ONLY_THIS_HOST
    return page


@router.get(ASSETS + "/{name}")
def asset(name: str) -> FileResponse:
    # A fixed list: the package's folder is never browsed by a name from the URL.
    if name not in FILES:
        raise HTTPException(404, f"no docs file {name!r}")
    return FileResponse(assets_dir() / name, media_type=FILES[name],
                        headers={"Cache-Control": "public, max-age=86400"})
