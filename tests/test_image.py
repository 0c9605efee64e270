"""The container image ships every package the service imports, and its health check asks a
route that exists. (No container engine runs here: these read the Dockerfile as text.)"""

from __future__ import annotations

import fnmatch
import re
import tomllib

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
