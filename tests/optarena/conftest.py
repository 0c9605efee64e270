from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.dashboard.service import Running, start


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start(tmp_path_factory, "cli")
