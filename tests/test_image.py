"""The container image ships every package the service imports, and its health check asks a
route that exists; in docker-compose.yml every long-running service has a health check of its
own, and the API's and the workers' ask something that exists. (No container engine runs here:
these read the Dockerfile and the compose file as text; tests/worker/test_health.py runs the
workers' check against real workers.)"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib
from typing import Any

import yaml

from api.main import app
from tests.support.procs import ROOT


def _packages() -> set[str]:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {p.rstrip("*") for p in setuptools["packages"]["find"]["include"]}


def test_the_image_copies_every_package_and_the_ignore_file_keeps_them():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {m.group(1) for m in re.finditer(r"^COPY (\S+) \1$", dockerfile, re.M)}
    missing = _packages() - copied
    assert not missing, f"packages the image lacks: {sorted(missing)}"
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line and not line.startswith("#")]
    shadowed = [p for p in _packages() for pattern in ignored if fnmatch.fnmatch(p, pattern)]
    assert not shadowed, f".dockerignore drops {shadowed}"
    # Dependencies are installed before the code is copied (the layer cache survives code edits).
    assert dockerfile.index("-r /tmp/requirements.txt") < dockerfile.index("COPY engine engine")


def test_the_health_check_asks_a_route_the_api_serves():
    dockerfile = (ROOT / "Dockerfile").read_text()
    path = re.search(r"HEALTHCHECK .*?http://127\.0\.0\.1:8000(/\S+?)'", dockerfile, re.S).group(1)
    assert path in app.openapi()["paths"]


def _compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_long_running_service_has_a_health_check():
    services = _compose_services()
    # A one-shot step (restart "no") is judged by its exit status; every other service stays up.
    long_running = {name: s for name, s in services.items() if s.get("restart") != "no"}
    assert {"postgres", "redis", "api", "worker-cpu", "worker-gpu", "flower"} <= set(long_running)
    unchecked = [name for name, s in long_running.items()
                 if not s.get("healthcheck", {}).get("test") or s["healthcheck"].get("disable")]
    assert not unchecked, f"services without a health check: {unchecked}"


def test_compose_health_checks_ask_what_the_service_serves():
    services = _compose_services()
    paths = app.openapi()["paths"]
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert re.search(r"http://127\.0\.0\.1:8000(/\w+)", api_check).group(1) in paths
    for name in ("worker-cpu", "worker-gpu"):
        # Not the image's check (the API's port, which a worker does not serve): the worker's own.
        test = services[name]["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "worker.health"], (name, test)
    assert importlib.util.find_spec("worker.health") is not None
