"""What the API tells operators: Prometheus metrics on ``GET /metrics`` and log lines that
name the job a request is about."""
