"""Options every remote command shares, and the client they build."""

from __future__ import annotations

from typing import Annotated

import typer

from optarena.client import ApiError, Client

Url = Annotated[str | None, typer.Option(envvar="OPTARENA_URL", help="the API's base URL",
                                         show_default="http://127.0.0.1:8000")]
Key = Annotated[str | None, typer.Option(envvar="OPTARENA_API_KEY", help="API key (Bearer)")]


def client(url: str | None, key: str | None) -> Client:
    return Client(url, key)


def fail(err: ApiError) -> typer.Exit:
    """Print the API's answer readably (one line per bad field) and exit non-zero."""
    if isinstance(err.detail, list):
        for e in err.detail:
            typer.echo(f"{e.get('field', '?')}: {e.get('msg', e)}", err=True)
    else:
        typer.echo(f"error ({err.status}): {err.detail}", err=True)
    return typer.Exit(1)
