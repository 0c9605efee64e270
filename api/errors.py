"""Every bad request answers 4xx with the field path and a message a person can act on.

Every error answer has one shape, ``Problem``: ``detail`` is a message, or for invalid input
a list with one ``FieldError`` per problem (api/openapi.py documents it on every error).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.submission import KeyReused, Refused, TooManyActive


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where the problem is: 'body', 'query', 'path' or 'header', "
                                 "then the field path, e.g. ['body', 'arms', 1, 'adam', 'beta1']")
    field: str = Field(description="the field path without its place, dotted: 'arms.1.adam.beta1'")
    msg: str = Field(description="what is wrong and what to do, starting with the field")
    type: str = Field(description="a stable name for the kind of problem, e.g. 'missing', "
                      "'greater_than', 'limit_exceeded', 'unknown_dataset'")


class Problem(BaseModel):
    """The body of every error answer (4xx and 5xx)."""

    detail: str | list[FieldError] = Field(description="a message, or for invalid input one entry per "
                                           "problem, each naming its field")

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


async def _on_refused(_request: Request, exc: Refused) -> JSONResponse:
    return await _on_spec_invalid(_request, validation_error(exc.errors))


async def _on_key_reused(_request: Request, exc: KeyReused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _on_too_many_active(_request: Request, exc: TooManyActive) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})


async def _on_database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
    """A lost connection (the database restarting) is the client's cue to retry, not a bug:
    503, and the pool's pre-ping reconnects by itself once it is back."""
    if not isinstance(exc.orig, Exception) or not _is_connection_error(exc):
        raise exc
    return JSONResponse({"detail": "the database is unreachable; retry shortly"}, status_code=503,
                        headers={"Retry-After": "5"})


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """As FastAPI answers, but a 405's ``Allow`` names every method of the path: the router
    stops at the first route with the path, which holds only some of them."""
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return await http_exception_handler(request, exc)  # type: ignore[return-value]


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route fully matches on this path (asked of each route with each method:
    an included router answers for all of its routes)."""
    routes = request.app.router.routes
    return [m for m in METHODS
            if any(route.matches({**request.scope, "method": m})[0] is Match.FULL for route in routes)]


def _is_connection_error(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(SpecInvalid, _on_spec_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, _on_refused)  # type: ignore[arg-type]
    app.add_exception_handler(KeyReused, _on_key_reused)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyActive, _on_too_many_active)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _on_database_error)  # type: ignore[arg-type]
