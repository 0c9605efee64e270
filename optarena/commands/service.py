"""serve and worker: start the API or a Celery worker in the foreground."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated

import typer


def serve(host: Annotated[str, typer.Option()] = "127.0.0.1", port: Annotated[int, typer.Option()] = 8000,
          workers: Annotated[int, typer.Option(help="API processes")] = 1) -> None:
    """Run the API (uvicorn); the dashboard is at its root URL."""
    import uvicorn

    typer.echo(f"optarena: dashboard at http://{host}:{port}/, API docs at http://{host}:{port}/docs")
    uvicorn.run("api.main:app", host=host, port=port, workers=workers)


Device = Annotated[str, typer.Option(help="cpu or cuda: picks the default queue (cuda specs go to gpu)")]
Queues = Annotated[str | None, typer.Option(help="queues to take, e.g. gpu,cpu; default: the device's")]


def worker(device: Device = "cpu", queue: Queues = None,
           name: Annotated[str | None, typer.Option(help="Celery node name")] = None) -> None:
    """Run a Celery worker (one shard at a time) on the cpu or gpu queue."""
    queues = queue or ("gpu" if device == "cuda" else "cpu")
    celery = shutil.which("celery", path=os.path.dirname(sys.executable)) or "celery"
    args = [celery, "-A", "worker.celery_app", "worker", "-Q", queues, "--pool", "solo", "-l", "INFO"]
    if name:
        args += ["-n", name]
    # Replace this process: signals (Ctrl-C, SIGTERM) then reach Celery's warm shutdown directly.
    os.execv(args[0], args)


def register(app: typer.Typer) -> None:
    for command in (serve, worker):
        app.command()(command)
