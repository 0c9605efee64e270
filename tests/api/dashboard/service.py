"""A real service (uvicorn + one Celery worker, embedded SQLite default) and a key made by
`optarena keys create`, shared by the CLI, report and browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.procs import Service, create_key, running, service_env


@dataclass
class Running:
    svc: Service
    key: str

    @property
    def url(self) -> str:
        return self.svc.url

    def cli_env(self) -> dict[str, str]:
        return service_env({"OPTARENA_URL": self.url, "OPTARENA_API_KEY": self.key})


def start(tmp: pytest.TempPathFactory, name: str) -> Iterator[Running]:
    cwd = tmp.mktemp(name)
    env = service_env()
    with running(env, cwd) as svc:
        yield Running(svc, create_key(env, cwd, "tests"))
