"""The service tests' real PostgreSQL database fixture, shared here."""

from tests.conftest import pg_url  # noqa: F401 - a fixture
