"""Signing a browser in and out: the key goes into an HttpOnly cookie, because
EventSource (the dashboard's live stream) cannot send an Authorization header."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.security.replies import SESSION_COOKIE
from core.settings import Settings
from models import apikeys

router = APIRouter(prefix="/session", tags=["session"])


class SessionIn(BaseModel):
    key: str = Field(..., max_length=200, description="an API key from `optarena keys create`")


class SessionOut(BaseModel):
    owner: str
    prefix: str


def _verify(session: Session, key: str) -> apikeys.Principal:
    principal = apikeys.verify(session, key)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return principal


@router.post("", response_model=SessionOut, responses={401: {"description": "invalid or revoked key"}},
             description="Check the key and set it as the HttpOnly, SameSite=Strict cookie "
                         f"`{SESSION_COOKIE}`, which authenticates later requests (and SSE streams).")
def sign_in(body: SessionIn, session: SessionDep, settings: SettingsDep, response: Response) -> SessionOut:
    principal = _verify(session, body.key)
    set_session_cookie(response, body.key, settings)
    return SessionOut(owner=principal.owner, prefix=principal.prefix)


def set_session_cookie(response: Response, key: str, settings: Settings) -> None:
    """The one way a browser is signed in, by the form (POST /session) or by link (GET /login)."""
    response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="strict", path="/",
                        secure=settings.session_cookie_secure)


@router.delete("", status_code=204, description="Clear the session cookie.")
def sign_out(settings: SettingsDep) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=settings.session_cookie_secure)
    return response
