"""Real service processes for the tests: uvicorn and Celery workers, started and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
    svc = Service(env, cwd, key=False)
    try:
        # The API and the first worker import in parallel (seconds each) while the key is made;
        # further workers start one by one, as two creating the broker's tables at once could clash.
        (first, queues), *rest = (workers or {"w1": "cpu"}).items()
        readies = [svc.spawn_api(), svc.spawn_worker(first, queues=queues)]
        svc.make_key()
        for ready in readies:
            ready()
        for name, queues in rest:
            svc.start_worker(name, queues=queues)
        yield svc
    finally:
        svc.stop(linger=True)


def create_key(env: dict[str, str], cwd: Path, name: str) -> str:
    """A new API key from the real CLI (`optarena keys create`): its last line of output."""
    done = subprocess.run([str(BIN / "optarena"), "keys", "create", "--name", name], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


class Service:
    """An API process and any number of workers sharing one environment, and an API key."""

    def __init__(self, env: dict[str, str], cwd: Path, key: bool = True):
        self.env, self.cwd, self.procs, self.logs = env, cwd, [], []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if key:
            self.make_key()

    def make_key(self) -> None:
        self.key = create_key(self.env, self.cwd, "tests")
        self.headers = {"Authorization": f"Bearer {self.key}"}

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.cwd / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(cmd, env=self.env | (env or {}), cwd=self.cwd, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def start_api(self, name: str = "api") -> subprocess.Popen[bytes]:
        self.spawn_api(name)()
        return self.procs[-1]

    def start_worker(self, name: str, queues: str = "cpu",
                     env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A worker; ``env`` adds to the service's environment (e.g. a PYTHONPATH with plugins)."""
        self.spawn_worker(name, queues, env)()
        return self.procs[-1]

    def spawn_api(self, name: str = "api") -> Callable[[], None]:
        """Starts the API; returns the wait until it answers."""
        self._spawn(name, [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1",
                           "--port", str(self.port), "--log-level", "warning"])
        return lambda: wait_for(lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200,
                                30, "API")

    def spawn_worker(self, name: str, queues: str = "cpu",
                     env: dict[str, str] | None = None) -> Callable[[], None]:
        """Starts a worker; returns the wait until it is ready."""
        self._spawn(name, [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "-Q", queues,
                    "--pool", "solo", "-n", f"{name}@%h", "-l", "INFO"], env)
        log = self.cwd / f"{name}.log"
        return lambda: wait_for(lambda: b" ready." in log.read_bytes(), 60, f"worker {name}")

    def log(self, name: str) -> str:
        return (self.cwd / f"{name}.log").read_text(errors="replace")

    def stop(self, linger: bool = False) -> None:
        """SIGTERM to every process, and wait until each has exited.

        ``linger`` (a teardown): a Celery worker takes seconds to finish its shutdown (its loop
        drains the broker for up to 2 s first); one whose database and broker are files of this
        service alone cannot touch another test's jobs, so it is left to exit while the suite
        goes on, and reaped at the session's end (reap_exiting)."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        private = linger and not any(self.env.get(k, "").startswith(("postgresql", "redis"))
                          for k in ("OPTARENA_DATABASE_URL", "OPTARENA_BROKER_URL"))
        for proc in self.procs:
            if private and proc.args[0].endswith("celery"):
                _exiting.append(proc)
            else:
                _reap(proc)
        for log in self.logs:
            log.close()


_exiting: list[subprocess.Popen[bytes]] = []


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def reap_exiting() -> None:
    """Waits for the workers stop() left exiting (the session's end)."""
    while _exiting:
        _reap(_exiting.pop())


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
