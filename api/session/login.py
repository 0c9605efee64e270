"""``GET /login?token=<one-time token>``: the sign-in link `make run` prints. The token is spent
and exchanged for a key of the local key's owner, set as the same cookie as the dashboard's
form, and the reply redirects to the dashboard, so the token leaves the address bar; opening
the link again, or once it has expired, answers 401 (models/login_links.py).

A GET that signs in can be triggered by any web page (a link, a redirect), so it must not let
a page sign the browser in to an account of that page's choosing ("login CSRF"): a token only
ever stands for the `make run` local key, and is accepted only over loopback at both ends, the
rules that key has everywhere. A page elsewhere cannot know a token of this machine's, and with
one would have full access anyway; any other key signs in through the form (POST /session)
only. A failed attempt leaves an existing session alone, so a forged link cannot sign anyone
out either, and a refusal for the address spends nothing.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import SessionDep, SettingsDep
from api.security.middleware import from_this_machine
from api.session.endpoints import set_session_cookie
from models import login_links

router = APIRouter(include_in_schema=False)

DASHBOARD = "/"
# The URL holds a token: no page it leads to may pass it on, and no cache may keep the reply.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
MAX_TOKEN = 200  # tokens are 43 characters; a longer one is no token and is not hashed
NOT_VALID = (f"This sign-in link is not valid: each link signs in once, within "
             f"{login_links.LIFETIME // timedelta(minutes=1)} minutes of <code>make run</code> printing it. "
             "<code>optarena keys local</code> prints a new one.")
NOT_LOCAL = ("A sign-in link works only on this machine (127.0.0.1). Sign in with your key on the "
             "dashboard's form instead.")


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
    key = login_links.redeem(session, token) if 0 < len(token) <= MAX_TOKEN else None
    session.commit()  # a spent token stays spent, whether or not it signed in
    if key is None:
        return _refused(401, NOT_VALID)
    response = RedirectResponse(DASHBOARD, status_code=303, headers=PRIVATE)
    set_session_cookie(response, key, settings)
    return response
