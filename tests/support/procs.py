"""Real service processes for the tests: uvicorn and Celery workers, started and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any OPTARENA_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTARENA_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def migrate(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "alembic"), "-c", str(ROOT / "alembic.ini"), *(args or ("upgrade", "head"))]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@contextmanager
def running(env: dict[str, str], cwd: Path, workers: dict[str, str] | None = None) -> Iterator[Service]:
    """Migrate, then start the API and the workers (name -> queues); everything stops on exit."""
    done = migrate(env, cwd)
    assert done.returncode == 0, done.stderr
    svc = Service(env, cwd)
    try:
        svc.start_api()
        for name, queues in (workers or {"w1": "cpu"}).items():
            svc.start_worker(name, queues=queues)
        yield svc
    finally:
        svc.stop()


def create_key(env: dict[str, str], cwd: Path, name: str) -> str:
    """A new API key from the real CLI (`optarena keys create`): its last line of output."""
    done = subprocess.run([str(BIN / "optarena"), "keys", "create", "--name", name], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


class Service:
    """An API process and any number of workers sharing one environment, and an API key."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env, self.cwd, self.procs, self.logs = env, cwd, [], []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = create_key(env, cwd, "tests")
        self.headers = {"Authorization": f"Bearer {self.key}"}

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.cwd / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(cmd, env=self.env | (env or {}), cwd=self.cwd, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def start_api(self, name: str = "api") -> subprocess.Popen[bytes]:
        proc = self._spawn(name, [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--log-level", "warning"])
        wait_for(lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200, 30, "API")
        return proc

    def start_worker(self, name: str, queues: str = "cpu",
                     env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A worker; ``env`` adds to the service's environment (e.g. a PYTHONPATH with plugins)."""
        proc = self._spawn(name, [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "-Q", queues,
                           "--pool", "solo", "-n", f"{name}@%h", "-l", "INFO"], env)
        log = self.cwd / f"{name}.log"
        wait_for(lambda: b" ready." in log.read_bytes(), 60, f"worker {name}")
        return proc

    def log(self, name: str) -> str:
        return (self.cwd / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for log in self.logs:
            log.close()


def wait_for(check, timeout: float, what: str) -> None:  # noqa: ANN001 - a no-arg predicate
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout} s")
