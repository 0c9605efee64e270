"""``GET /login?token=<local key>``: the sign-in link `make run` prints. It sets the same cookie
as the dashboard's form and redirects to the dashboard, so the key leaves the address bar.

A GET that signs in can be triggered by any web page (a link, a redirect), so it must not let
a page sign the browser in to an account of that page's choosing ("login CSRF"): it accepts
only the `make run` local key, and only over loopback at both ends, the rules that key has
everywhere. A page elsewhere cannot know this machine's local key, and with it would have full
access anyway; any other key signs in through the form (POST /session) only. A failed attempt
leaves an existing session alone, so a forged link cannot sign anyone out either.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import SessionDep, SettingsDep
from api.security.middleware import from_this_machine
from api.session.endpoints import set_session_cookie
from models import apikeys

router = APIRouter(include_in_schema=False)

DASHBOARD = "/"
# The URL holds a key: no page it leads to may pass it on, and no cache may keep the reply.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
NOT_VALID = "This sign-in link is not valid: its key is mistyped, revoked or from another installation."
NOT_LOCAL = ("Only the local key that <code>make run</code> prints signs in by link, and only on this "
             "machine (127.0.0.1). Sign in with your key on the dashboard's form instead.")


def _refused(status: int, message: str) -> HTMLResponse:
    page = (f"<!doctype html><meta charset=utf-8><title>optarena: sign-in refused</title>"
            f"<p id=login-refused>{message}</p><p><a href=\"{DASHBOARD}\">Open the dashboard</a> "
            "and sign in with an API key (<code>optarena keys create</code>).</p>")
    headers = PRIVATE | ({"WWW-Authenticate": "Bearer"} if status == 401 else {})
    return HTMLResponse(page, status_code=status, headers=headers)


@router.get("/login")
def login_link(request: Request, session: SessionDep, settings: SettingsDep, token: str = "") -> Response:
    if not from_this_machine(request.scope):
        return _refused(403, NOT_LOCAL)
    # Keys are ~60 characters; POST /session bounds its body field the same way.
    principal = apikeys.verify(session, token) if 0 < len(token) <= 200 else None
    if principal is None:
        return _refused(401, NOT_VALID)
    if not principal.local:
        return _refused(403, NOT_LOCAL)
    response = RedirectResponse(DASHBOARD, status_code=303, headers=PRIVATE)
    set_session_cookie(response, token, settings)
    return response
