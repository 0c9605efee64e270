"""Celery app and tasks: thin adapters that load a job, call the engine, persist its events."""
