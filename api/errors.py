"""Every bad request answers 4xx with the field path and a message a person can act on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_HINTS = {
    "json_invalid": "the body is not valid JSON; check quotes, commas and brackets",
    "missing": "this field is required",
    "extra_forbidden": "unknown field; check its spelling against the schema in /docs",
}


class SpecInvalid(Exception):
    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors


def validation_error(errors: list[dict[str, Any]]) -> SpecInvalid:
    return SpecInvalid([e | {"loc": ["body", *e["loc"]]} for e in errors])


def _field(loc: list[Any]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return ".".join(str(p) for p in parts) or "(body)"


def present(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = list(e.get("loc", []))
        msg = str(e.get("msg", "invalid"))
        hint = _HINTS.get(str(e.get("type")))
        if hint and hint not in msg:
            msg = f"{msg}: {hint}"
        out.append({"loc": loc, "field": _field(loc), "msg": f"{_field(loc)}: {msg}",
                    "type": e.get("type", "value_error")})
    return out


async def _on_request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse({"detail": present(errors)}, status_code=422)


async def _on_spec_invalid(_request: Request, exc: SpecInvalid) -> JSONResponse:
    return JSONResponse({"detail": present(exc.errors)}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(SpecInvalid, _on_spec_invalid)  # type: ignore[arg-type]
