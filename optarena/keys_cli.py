"""``optarena keys``: create, list and revoke API keys in the database named by Settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="API keys: create (shown once), list, revoke.")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _sessions():  # noqa: ANN202 - a sessionmaker
    from core.settings import get_settings
    from models.db import session_factory

    return session_factory(get_settings().database_url)


@app.command()
def create(name: Annotated[str, typer.Option(help="what the key is for, e.g. 'ci' or 'alice-laptop'")],
           owner: Annotated[str | None, typer.Option(help="the tenant owning its jobs; default: the name")]
           = None) -> None:
    """Create a key and print it, alone, on the last line: it is never shown again."""
    from models import apikeys

    with _sessions()() as session, session.begin():
        key = apikeys.create(session, name, owner)
    typer.echo(f"API key '{name}' (owner '{owner or name}'); store it now, it cannot be shown again:",
               err=True)
    typer.echo(key)


@app.command("list")
def list_keys() -> None:
    """Active keys: prefix, name, owner, creation time (never the key itself)."""
    from models import apikeys

    with _sessions()() as session:
        for k in apikeys.active(session):
            typer.echo(f"{k.prefix}  {k.name}  owner={k.owner}  created={k.created_at:%Y-%m-%d %H:%M}"
                       + ("  (local)" if k.local else ""))


@app.command()
def revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix, as `keys list` shows it")]) -> None:
    """Revoke a key at once: requests with it answer 401 from now on."""
    from models import apikeys

    with _sessions()() as session, session.begin():
        if not apikeys.revoke(session, prefix):
            typer.echo(f"no active key with prefix {prefix!r}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {prefix}")


@app.command()
def local(host: Annotated[str, typer.Option(help="the address the API will bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option()] = 8000) -> None:
    """For `make run`: on first start, create a key for the single local user and print it once;
    on every start, print a one-time sign-in link."""
    from models import apikeys, login_links

    if host not in LOOPBACK:
        typer.echo(f"refusing to create local credentials for host {host!r}: the embedded default "
                   "binds 127.0.0.1 only; create keys with `optarena keys create` instead", err=True)
        raise typer.Exit(2)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    with _sessions()() as session, session.begin():
        key = None if apikeys.active(session) else apikeys.create(session, "local", "local", local=True)
        token = login_links.mint(session)
    typer.echo(f"optarena: docs at {url}/docs")
    if token is None:  # the local key was revoked: other keys sign in on the dashboard's form
        typer.echo(f"optarena: dashboard at {url}/ (sign in with a key; keys: `optarena keys list`)")
        return
    # As Jupyter does: one click signs the browser in. The token is spent on first use.
    typer.echo(f"optarena: open the dashboard, signed in (this link works once, for "
               f"{login_links.LIFETIME // timedelta(minutes=1)} minutes): {url}/login?token={token}")
    if key is not None:
        typer.echo("optarena: a local API key, shown this once; scripts send it as "
                   "'Authorization: Bearer <key>':")
        typer.echo(key)
