"""The dashboard: an HTML shell at ``/`` and its static files under ``/ui/``. plotly.js comes
from the installed plotly package (it ships the bundle), so nothing is fetched from a CDN and
no third-party JavaScript lives in this repository."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


@cache
def plotly_bundle() -> Path:
    """plotly/package_data/plotly.min.js, located without importing plotly (slow to import)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise HTTPException(503, "the plotly package is not installed; pip install plotly")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


@router.get("/", response_class=HTMLResponse)
def shell() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text())


@router.get("/ui/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(plotly_bundle(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/ui/{name}")
def static_file(name: str) -> FileResponse:
    # Only plain names of files in static/: no path can climb out of the folder.
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise HTTPException(404, f"no dashboard file {name!r}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
