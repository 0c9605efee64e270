"""How often the event streams read the database. A job's feed reads it once per poll for
every viewer of the job in its process; a stream reads it itself only to catch up, so with
many viewers the ``feed`` count follows the number of jobs watched, not of viewers."""

from __future__ import annotations

from prometheus_client import Counter

EVENT_READS = Counter("optarena_event_reads", "reads of a job's event log by the SSE and JSON Lines "
                      "streams: by the job's shared feed (one per job and API process), or by one "
                      "stream catching up to it", ["by"])
