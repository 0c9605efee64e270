"""Commands of ``optarena`` that talk to a running service through optarena.client.Client."""

from __future__ import annotations

import typer

from optarena.commands import jobs, service


def register(app: typer.Typer) -> None:
    for module in (jobs, service):
        module.register(app)
