"""A real service (uvicorn + one Celery worker, embedded SQLite default) and a key made by
`optarena keys create`, shared by the CLI, report and browser tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.service.procs import BIN, Service, migrate, service_env


@dataclass
class Running:
    svc: Service
    key: str

    @property
    def url(self) -> str:
        return self.svc.url

    def cli_env(self) -> dict[str, str]:
        return service_env({"OPTARENA_URL": self.url, "OPTARENA_API_KEY": self.key})


def create_key(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([str(BIN / "optarena"), "keys", "create", "--name", "tests"], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def start(tmp: pytest.TempPathFactory, name: str) -> Iterator[Running]:
    cwd = tmp.mktemp(name)
    env = service_env()
    done = migrate(env, cwd)
    assert done.returncode == 0, done.stderr
    key = create_key(env, cwd)
    svc = Service(env, cwd)
    try:
        svc.start_api()
        svc.start_worker("w1")
        yield Running(svc, key)
    finally:
        svc.stop()
