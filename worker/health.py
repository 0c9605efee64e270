"""``python -m worker.health``: the container healthcheck of a worker. Exits 0 while a worker on
this host is alive, 1 otherwise, with one line saying why.

It reads the worker's presence row (worker/presence.py): published once the worker consumes
its queues, refreshed every heartbeat by a thread of the worker process, deleted when the
worker stops, and taken as gone when not refreshed for ``worker_ttl_seconds``, the rule the API
routes by (core/capabilities.py). ``celery inspect ping`` would not do: a ``--pool solo`` worker
answers control messages only between tasks, so a worker busy training a shard for minutes
would be reported dead.
"""

from __future__ import annotations

import socket
import sys

from sqlalchemy.exc import DBAPIError

from core import capabilities
from core.settings import get_settings
from models.db import session_factory


def check(hostname: str) -> tuple[bool, str]:
    settings = get_settings()
    ttl = settings.worker_ttl_seconds
    try:
        with session_factory(settings.database_url)() as session:
            mine = [w for w in capabilities.live(session, ttl) if w.hostname == hostname]
    except DBAPIError as exc:
        return False, f"the database is unreachable: {type(exc.orig).__name__}"
    if not mine:
        return False, f"no worker on {hostname} has sent a heartbeat in the last {ttl:g} s"
    return True, f"worker {mine[0].id} on queues {','.join(mine[0].queues)}, seen {mine[0].seen_at:%H:%M:%S}"


def main() -> int:
    healthy, reason = check(socket.gethostname())
    print(f"{'healthy' if healthy else 'unhealthy'}: {reason}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
